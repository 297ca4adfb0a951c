// Which interface of a virtio-net PCI function netfront drives: the modern one (§4.1.4) when
// the function has it, else, on a transitional function (ids 0x1000..0x103f, §4.1.2) without
// the modern capabilities, the legacy one (§4.1.4.8). A modern-only id without usable
// capabilities is refused (it has no legacy interface to fall back to), and so is any function
// whose capabilities are malformed.
#pragma once

#include <memory>

#include "drivers/virtio/transport/pci/pci_function.hpp"
#include "drivers/virtio/transport/transport.hpp"

namespace netfront::virtio::transport::pci {

Result<std::unique_ptr<Transport>> open_virtio_pci(std::unique_ptr<PciFunction> function);

}  // namespace netfront::virtio::transport::pci
