// The two ways into a PCI function; open_pci_function() chooses between them.
#pragma once

#include "drivers/virtio/transport/pci/pci_function.hpp"

namespace netfront::virtio::transport::pci {

Result<std::unique_ptr<PciFunction>> open_uio_function(const PciAddress& address);
Result<std::unique_ptr<PciFunction>> open_vfio_function(const PciAddress& address);

}  // namespace netfront::virtio::transport::pci
