// libtorch's autocast state for any device type, which tch does not bind (it switches only CUDA's).
// The declarations are libtorch's own (ATen/autocast_mode.h), repeated here so that the bridge
// compiles against c10's small headers instead of the whole of ATen.
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <c10/macros/Export.h>

namespace at::autocast {
TORCH_API bool is_autocast_enabled(c10::DeviceType device_type);
TORCH_API void set_autocast_enabled(c10::DeviceType device_type, bool enabled);
TORCH_API c10::ScalarType get_autocast_dtype(c10::DeviceType device_type);
TORCH_API void set_autocast_dtype(c10::DeviceType device_type, c10::ScalarType dtype);
TORCH_API void clear_cache();
TORCH_API int increment_nesting();
TORCH_API int decrement_nesting();
}  // namespace at::autocast

namespace {
c10::DeviceType device_type(int cuda) { return cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU; }
}  // namespace

extern "C" {

// Whether autocast is on for the CPU (cuda = 0) or CUDA (cuda = 1).
bool rcb_autocast_enabled(int cuda) { return at::autocast::is_autocast_enabled(device_type(cuda)); }

// The autocast dtype as a c10::ScalarType code (15 bfloat16, 5 half).
int rcb_autocast_dtype(int cuda) { return static_cast<int>(at::autocast::get_autocast_dtype(device_type(cuda))); }

// Turns autocast on or off for a device type with the given c10::ScalarType code.
void rcb_autocast_set(int cuda, bool enabled, int dtype) {
  at::autocast::set_autocast_dtype(device_type(cuda), static_cast<c10::ScalarType>(dtype));
  at::autocast::set_autocast_enabled(device_type(cuda), enabled);
}

// Entering and leaving an autocast region: the cast-weight cache is cleared when the outermost ends.
int rcb_autocast_increment_nesting() { return at::autocast::increment_nesting(); }
int rcb_autocast_decrement_nesting() { return at::autocast::decrement_nesting(); }
void rcb_autocast_clear_cache() { at::autocast::clear_cache(); }

}  // extern "C"
