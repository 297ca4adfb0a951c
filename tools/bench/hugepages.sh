# Sourced by the vhost-user benchmarks: reserves 1024 x 2 MiB hugepages and mounts hugetlbfs
# when they are missing (this machine's own memory; no device is touched), and gives back
# what it took when the script ends, so that no later run (the test suite above all) depends
# on what a benchmark left. Extra clean-up for the EXIT trap goes in `on_exit`.
hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
hugepages_mounted_here=0
on_exit() { :; }
give_back_hugepages() {
  on_exit
  rm -rf /var/run/dpdk/nf*
  if ((hugepages_mounted_here)); then umount /dev/hugepages; fi
  echo "$hugepages_before" >/proc/sys/vm/nr_hugepages
}
trap give_back_hugepages EXIT
if (($(awk '/HugePages_Free/ {print $2}' /proc/meminfo) < 768)); then echo 1024 >/proc/sys/vm/nr_hugepages; fi
if ! mountpoint -q /dev/hugepages; then
  mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages && hugepages_mounted_here=1
fi
