#include "drivers/virtio/transport/pci/open_transport.hpp"

#include "drivers/virtio/transport/pci/legacy_pci_transport.hpp"
#include "drivers/virtio/transport/pci/pci_spec.hpp"
#include "drivers/virtio/transport/pci/virtio_capabilities.hpp"
#include "drivers/virtio/transport/pci/virtio_pci_transport.hpp"
#include "runtime/log.hpp"

namespace netfront::virtio::transport::pci {

Result<std::unique_ptr<Transport>> open_virtio_pci(std::unique_ptr<PciFunction> function) {
  std::byte config[kPciConfigSize];
  if (auto r = function->read_config(0, config); !r) return std::move(r).error();
  const unsigned device = std::to_integer<unsigned>(config[kPciDeviceId]) | std::to_integer<unsigned>(config[kPciDeviceId + 1]) << 8;
  const bool transitional = device >= kVirtioTransitionalFirst && device <= kVirtioTransitionalLast;
  // Only a function without a usable modern interface falls back: one whose capabilities are
  // malformed has broken it (a protocol violation, reported as such), not left it out.
  auto modern = find_virtio_capabilities(config, function->bar_sizes());
  if (modern) {
    auto t = VirtioPciTransport::open(std::move(function), *modern);
    if (!t) return std::move(t).error();
    return std::unique_ptr<Transport>(std::move(*t));
  }
  if (!transitional || !modern.error().is(TransportError::Unsupported))
    return modern.error().with_context(function->address().to_string());
  runtime::logger("pci").info("{}: {}; using the legacy interface", function->address().to_string(), modern.error().message());
  auto t = LegacyPciTransport::open(std::move(function), config);
  if (!t) return std::move(t).error();
  return std::unique_ptr<Transport>(std::move(*t));
}

}  // namespace netfront::virtio::transport::pci
