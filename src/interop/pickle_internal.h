#pragma once
// Internal to src/interop: a restricted unpickler and a small pickler for the subset of
// Python's pickle protocol that torch.save writes (protocol 2, plus the protocol 3/4 opcodes
// a `pickle_protocol=4` save adds). Not a general pickle implementation, on purpose.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace protoclr::interop::detail {

/// The bytes of one tensor storage, filled when its data has been read.
struct StorageData {
  std::string key;        ///< the storage's key in the file ("0", "1", ... or a legacy id)
  c10::ScalarType dtype;  ///< from the storage type (torch.FloatStorage -> kFloat)
  int64_t numel = 0;      ///< elements, as the persistent id declares them
  torch::Tensor data;     ///< [numel] once read; undefined before
};

/// A storage as a pickle refers to it: all of `root` or, in legacy files, a view into it.
struct StorageRef {
  std::shared_ptr<StorageData> root;
  int64_t offset = 0;  ///< first element of the view in `root`
  int64_t numel = 0;   ///< elements of the view
};

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it; materialised once the
/// storages are read (legacy files store the data after the pickle).
struct TensorRef {
  StorageRef storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

struct Object;
using ObjectPtr = std::shared_ptr<Object>;

/// One unpickled Python value. Containers are shared because pickles mutate memoised objects.
struct Object {
  enum class Kind { kNone, kBool, kInt, kBigInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal,
                    kStorage, kTensor };
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  ///< kString, kBytes, kGlobal ("module.name"), kBigInt (little-endian bytes)
  std::vector<ObjectPtr> items;                          ///< kTuple, kList
  std::vector<std::pair<ObjectPtr, ObjectPtr>> entries;  ///< kDict, in insertion order
  std::shared_ptr<StorageRef> storage;                   ///< kStorage
  std::shared_ptr<TensorRef> tensor;                     ///< kTensor
};

/// Maps a persistent id (the tuple torch.save pickles for a storage) to the storage.
using PersistentLoad = std::function<std::shared_ptr<StorageRef>(const Object& pid)>;

/// Runs one pickle from `data[begin..size)` with the global allowlist of PyTorch's
/// `weights_only=True` loader; every read is bounded. Throws Error naming `file` on a
/// forbidden global, an unsupported opcode or truncated input. Objects it returns live while
/// the Unpickler does; its destructor dismantles them iteratively (no deep recursion on
/// hostile nesting, no leak on reference cycles).
class Unpickler {
 public:
  Unpickler(const char* data, size_t size, size_t begin, std::string file, PersistentLoad persistent_load);
  ~Unpickler();
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  /// Unpickles up to STOP; returns the value.
  ObjectPtr load();
  /// Offset just past the STOP opcode (the next pickle of a legacy file starts there).
  size_t position() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void need(size_t n) const;
  uint8_t u8();
  uint64_t le(size_t n);
  std::string bytes(size_t n);
  std::string line();
  ObjectPtr pop();
  std::vector<ObjectPtr> pop_mark();
  ObjectPtr global(const std::string& module, const std::string& name);
  ObjectPtr reduce(const Object& callable, const Object& args);
  ObjectPtr own(ObjectPtr obj);

  const char* data_;
  size_t size_, pos_;
  std::string file_;
  PersistentLoad persistent_load_;
  std::vector<ObjectPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, ObjectPtr> memo_;
  std::vector<ObjectPtr> owned_;  ///< every container created, for the iterative teardown
};

/// The tensor an Object of kind kTensor describes, once its storage holds data.
torch::Tensor materialize(const Object& tensor, const std::string& file);

/// Element size and storage type name ("FloatStorage") of a dtype; throws Error for others.
std::string storage_type_name(c10::ScalarType dtype);

/// Appends the opcodes of a protocol-2 pickle of `value` (dicts with str/int keys, lists,
/// tuples, None, bool, int, float, str, tensors) to `out`. Each tensor becomes a
/// `_rebuild_tensor_v2` call on a persistent id `('storage', torch.XStorage, key, 'cpu',
/// numel[, None])`; `on_tensor` gets the contiguous CPU tensor and returns its key.
/// `legacy_ids`: the 6-tuple ids of the pre-1.6 format instead of zip's 5-tuples.
void pickle_value(const c10::IValue& value, std::string& out,
                  const std::function<std::string(const torch::Tensor&)>& on_tensor, bool legacy_ids);

}  // namespace protoclr::interop::detail
