#include "protoclr/interop/torch_file.h"

#include <caffe2/serialize/file_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_set>

#include "pickle_internal.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::interop {
namespace {

using detail::Object;
using detail::ObjectPtr;
using Kind = Object::Kind;

// The legacy format's magic number 0x1950a86a20f9469cfc6c as pickled by torch.save
// (LONG1, 10 bytes little-endian), its protocol version 1001, and the zip signature.
const std::string kLegacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
const std::string kLegacyProtocol("\x80\x02M\xe9\x03.", 6);
const std::string kZipSignature("PK\x03\x04", 4);
constexpr int64_t kMaxNumel = int64_t{1} << 48;

c10::ScalarType storage_dtype(const Object& type, const std::string& file) {
  static const std::map<std::string, c10::ScalarType> types = {
      {"torch.FloatStorage", c10::kFloat},   {"torch.DoubleStorage", c10::kDouble},
      {"torch.HalfStorage", c10::kHalf},     {"torch.BFloat16Storage", c10::kBFloat16},
      {"torch.LongStorage", c10::kLong},     {"torch.IntStorage", c10::kInt},
      {"torch.ShortStorage", c10::kShort},   {"torch.CharStorage", c10::kChar},
      {"torch.ByteStorage", c10::kByte},     {"torch.BoolStorage", c10::kBool},
      {"torch.ComplexFloatStorage", c10::kComplexFloat}, {"torch.ComplexDoubleStorage", c10::kComplexDouble}};
  auto it = type.kind == Kind::kGlobal ? types.find(type.s) : types.end();
  PROTOCLR_CHECK(it != types.end(), "cannot read '", file, "': a storage id names no storage type (corrupt file)");
  return it->second;
}

/// Checks the common head of a storage's persistent id, ('storage', torch.XStorage, key,
/// location, numel, ...), and returns dtype, key and numel.
struct StorageId {
  c10::ScalarType dtype;
  std::string key;
  int64_t numel;
};
StorageId parse_storage_id(const Object& pid, size_t arity, const std::string& file) {
  PROTOCLR_CHECK(pid.kind == Kind::kTuple && pid.items.size() == arity && pid.items[0]->kind == Kind::kString &&
                     pid.items[0]->s == "storage" && pid.items[2]->kind == Kind::kString &&
                     pid.items[3]->kind == Kind::kString && pid.items[4]->kind == Kind::kInt,
                 "cannot read '", file, "': malformed storage id (corrupt file, or written by an unknown PyTorch)");
  StorageId id{storage_dtype(*pid.items[1], file), pid.items[2]->s, pid.items[4]->i};
  PROTOCLR_CHECK(id.numel >= 0 && id.numel <= kMaxNumel, "cannot read '", file, "': storage '", id.key,
                 "' claims ", id.numel, " elements (corrupt file)");
  return id;
}

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

/// Flattens the unpickled root (a dict) into a TorchFile. Visits each container once, to
/// a bounded depth: hostile sharing or cycles cannot make it loop or recurse deeply.
TorchFile flatten(const ObjectPtr& root, TorchFileFormat format, const std::string& file) {
  PROTOCLR_CHECK(root->kind == Kind::kDict, "'", file, "' holds a pickled ",
                 root->kind == Kind::kTensor ? "tensor" : "non-dict value",
                 ", not a dict of tensors (save a state dict: torch.save(model.state_dict(), path))");
  TorchFile out;
  out.format = format;
  std::unordered_set<const Object*> seen;
  std::function<void(const Object&, const std::string&, int)> walk = [&](const Object& obj, const std::string& path,
                                                                          int depth) {
    if (obj.kind == Kind::kTensor) {
      out.tensors.emplace_back(path, detail::materialize(obj, file));
      return;
    }
    if (depth > 16 || !seen.insert(&obj).second) return;
    if (obj.kind == Kind::kDict) {
      for (const auto& [key, value] : obj.entries) {
        if (key->kind == Kind::kString) walk(*value, join(path, key->s), depth + 1);
        else if (key->kind == Kind::kInt) walk(*value, join(path, std::to_string(key->i)), depth + 1);
      }
    } else if (obj.kind == Kind::kList || obj.kind == Kind::kTuple) {
      for (size_t k = 0; k < obj.items.size(); ++k) walk(*obj.items[k], join(path, std::to_string(k)), depth + 1);
    }
  };
  walk(*root, "", 0);
  for (const auto& [key, value] : root->entries) {
    if (key->kind != Kind::kString) continue;
    switch (value->kind) {
      case Kind::kNone: out.scalars[key->s] = nullptr; break;
      case Kind::kBool: out.scalars[key->s] = value->b; break;
      case Kind::kInt: out.scalars[key->s] = value->i; break;
      case Kind::kFloat: out.scalars[key->s] = value->f; break;
      case Kind::kString: out.scalars[key->s] = value->s; break;
      default: break;
    }
  }
  return out;
}

/// Bounds-checked reads over a legacy file's bytes.
TorchFile read_legacy(const std::string& bytes, const std::string& file) {
  PROTOCLR_CHECK(bytes.compare(0, kLegacyMagic.size(), kLegacyMagic) == 0, "'", file,
                 "' is not a torch.save file (no zip signature, wrong magic number)");
  size_t pos = kLegacyMagic.size();
  PROTOCLR_CHECK(bytes.compare(pos, kLegacyProtocol.size(), kLegacyProtocol) == 0, "cannot read '", file,
                 "': unknown legacy protocol version (expected 1001; re-save it with torch.save)");
  pos += kLegacyProtocol.size();
  {
    detail::Unpickler sys_info(bytes.data(), bytes.size(), pos, file, nullptr);
    const auto info = sys_info.load();
    PROTOCLR_CHECK(info->kind == Kind::kDict, "cannot read '", file, "': malformed system-info record");
    for (const auto& [key, value] : info->entries)
      if (key->kind == Kind::kString && key->s == "little_endian")
        PROTOCLR_CHECK(value->kind == Kind::kBool && value->b, "cannot read '", file,
                       "': written on a big-endian machine (re-save it on a little-endian one)");
    pos = sys_info.position();
  }
  std::map<std::string, std::shared_ptr<detail::StorageData>> storages;
  auto persistent_load = [&](const Object& pid) {
    const auto id = parse_storage_id(pid, 6, file);
    auto& root = storages[id.key];
    if (!root) {
      root = std::make_shared<detail::StorageData>();
      root->key = id.key;
      root->dtype = id.dtype;
      root->numel = id.numel;
    }
    PROTOCLR_CHECK(root->dtype == id.dtype && root->numel == id.numel, "cannot read '", file, "': storage '", id.key,
                   "' is declared twice with different types or sizes (corrupt file)");
    auto ref = std::make_shared<detail::StorageRef>();
    ref->root = root;
    ref->numel = root->numel;
    const Object& view = *pid.items[5];
    if (view.kind == Kind::kTuple) {  // (view_key, offset, view_size): PyTorch < 1.6 storage views
      PROTOCLR_CHECK(view.items.size() == 3 && view.items[1]->kind == Kind::kInt && view.items[2]->kind == Kind::kInt &&
                         view.items[1]->i >= 0 && view.items[2]->i >= 0 &&
                         view.items[1]->i <= root->numel - view.items[2]->i,
                     "cannot read '", file, "': malformed storage view of '", id.key, "' (corrupt file)");
      ref->offset = view.items[1]->i;
      ref->numel = view.items[2]->i;
    } else {
      PROTOCLR_CHECK(view.kind == Kind::kNone, "cannot read '", file, "': malformed storage view (corrupt file)");
    }
    return ref;
  };
  detail::Unpickler main(bytes.data(), bytes.size(), pos, file, persistent_load);
  const auto root = main.load();
  pos = main.position();
  detail::Unpickler keys_pickle(bytes.data(), bytes.size(), pos, file, nullptr);
  const auto keys = keys_pickle.load();
  pos = keys_pickle.position();
  PROTOCLR_CHECK(keys->kind == Kind::kList, "cannot read '", file, "': malformed list of storage keys");
  for (const auto& key : keys->items) {
    PROTOCLR_CHECK(key->kind == Kind::kString, "cannot read '", file, "': malformed list of storage keys");
    auto it = storages.find(key->s);
    PROTOCLR_CHECK(it != storages.end(), "cannot read '", file, "': data for undeclared storage '", key->s, "'");
    auto& storage = *it->second;
    PROTOCLR_CHECK(!storage.data.defined(), "cannot read '", file, "': storage '", key->s, "' is stored twice");
    PROTOCLR_CHECK(bytes.size() - pos >= 8, "cannot read '", file, "': truncated (the data of storage '", key->s,
                   "' is missing; download the file again)");
    int64_t count;
    std::memcpy(&count, bytes.data() + pos, 8);
    pos += 8;
    PROTOCLR_CHECK(count == storage.numel, "cannot read '", file, "': storage '", key->s, "' holds ", count,
                   " elements but was declared with ", storage.numel, " (corrupt file)");
    const size_t nbytes = static_cast<size_t>(count) * c10::elementSize(storage.dtype);
    PROTOCLR_CHECK(bytes.size() - pos >= nbytes, "cannot read '", file, "': truncated (storage '", key->s,
                   "' needs ", nbytes, " bytes, ", bytes.size() - pos, " left; download the file again)");
    storage.data = torch::empty({count}, torch::TensorOptions().dtype(storage.dtype));
    if (nbytes) std::memcpy(storage.data.data_ptr(), bytes.data() + pos, nbytes);
    pos += nbytes;
  }
  return flatten(root, TorchFileFormat::kLegacy, file);
}

/// A read adapter over bytes in memory, for read_torch_bytes().
class BytesAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesAdapter(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::string& bytes_;
};

TorchFile read_zip(std::shared_ptr<caffe2::serialize::ReadAdapterInterface> adapter, const std::string& file) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::move(adapter));
    PROTOCLR_CHECK(reader.hasRecord("data.pkl"), "'", file,
                   "' is a zip archive without data.pkl: not a torch.save file (a TorchScript module? save its "
                   "state_dict() with torch.save instead)");
    auto [pkl, pkl_size] = reader.getRecord("data.pkl");
    std::map<std::string, std::shared_ptr<detail::StorageData>> storages;
    auto persistent_load = [&](const Object& pid) {
      const auto id = parse_storage_id(pid, 5, file);
      auto& root = storages[id.key];
      if (!root) {
        const std::string record = "data/" + id.key;
        PROTOCLR_CHECK(reader.hasRecord(record), "cannot read '", file, "': record '", record,
                       "' is missing (truncated or corrupt file)");
        auto [data, size] = reader.getRecord(record);
        const size_t nbytes = static_cast<size_t>(id.numel) * c10::elementSize(id.dtype);
        PROTOCLR_CHECK(size == nbytes, "cannot read '", file, "': record '", record, "' has ", size,
                       " bytes but its tensor needs ", nbytes, " (corrupt file)");
        root = std::make_shared<detail::StorageData>();
        root->key = id.key;
        root->dtype = id.dtype;
        root->numel = id.numel;
        root->data = torch::empty({id.numel}, torch::TensorOptions().dtype(id.dtype));
        if (nbytes) std::memcpy(root->data.data_ptr(), data.get(), nbytes);
      }
      PROTOCLR_CHECK(root->dtype == id.dtype && root->numel == id.numel, "cannot read '", file, "': storage '",
                     id.key, "' is declared twice with different types or sizes (corrupt file)");
      auto ref = std::make_shared<detail::StorageRef>();
      ref->root = root;
      ref->numel = root->numel;
      return ref;
    };
    detail::Unpickler unpickler(static_cast<const char*>(pkl.get()), pkl_size, 0, file, persistent_load);
    return flatten(unpickler.load(), TorchFileFormat::kZip, file);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    throw Error("cannot read '" + file + "': corrupt or truncated zip archive (" + what.substr(0, 160) +
                "); download or save the file again");
  } catch (const std::bad_alloc&) {
    throw Error("cannot read '" + file + "': a zip record claims an impossible size (corrupt file)");
  }
}

TorchFile read_any(const std::string& head, const std::function<TorchFile()>& zip,
                   const std::function<TorchFile()>& legacy, const std::string& file) {
  if (head.compare(0, kZipSignature.size(), kZipSignature) == 0) return zip();
  if (head.size() > 262 && head.compare(257, 5, "ustar") == 0)
    throw Error("'" + file + "' is in the tar format of PyTorch < 0.4, which protoclr does not read; "
                "load and re-save it with torch.save in a newer PyTorch");
  return legacy();
}

}  // namespace

std::string to_string(TorchFileFormat format) { return format == TorchFileFormat::kZip ? "zip" : "legacy"; }

TorchFile read_torch_bytes(const std::string& bytes, const std::string& name) {
  return read_any(
      bytes.substr(0, 512), [&] { return read_zip(std::make_shared<BytesAdapter>(bytes), name); },
      [&] { return read_legacy(bytes, name); }, name);
}

TorchFile read_torch_file(const std::string& path) {
  PROTOCLR_CHECK(std::filesystem::is_regular_file(path), "'", path, "' does not exist or is not a file");
  std::string head(512, '\0');
  {
    std::ifstream in(path, std::ios::binary);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
  }
  return read_any(
      head,
      [&] {
        // Zip records are read one at a time: a large checkpoint is never in memory twice.
        std::shared_ptr<caffe2::serialize::ReadAdapterInterface> adapter;
        try {
          adapter = std::make_shared<caffe2::serialize::FileAdapter>(path);
        } catch (const c10::Error&) {
          throw Error("cannot open '" + path + "'");
        }
        return read_zip(std::move(adapter), path);
      },
      [&] {
        const auto raw = read_file(path);
        return read_legacy(std::string(raw.begin(), raw.end()), path);
      },
      path);
}

std::string torch_file_bytes(const c10::IValue& value, TorchFileFormat format) {
  std::vector<std::pair<std::string, torch::Tensor>> storages;
  std::string pkl;
  detail::pickle_value(
      value, pkl,
      [&](const torch::Tensor& t) {
        storages.emplace_back(std::to_string(storages.size()), t);
        return storages.back().first;
      },
      /*legacy_ids=*/format == TorchFileFormat::kLegacy);
  std::string out;
  if (format == TorchFileFormat::kZip) {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
      out.append(static_cast<const char*>(buf), n);
      return n;
    });
    writer.writeRecord("data.pkl", pkl.data(), pkl.size());
    static const char kEmpty = 0;
    for (const auto& [key, t] : storages)
      writer.writeRecord("data/" + key, t.nbytes() ? t.data_ptr() : &kEmpty, t.nbytes());
    writer.writeEndOfFile();
    return out;
  }
  out = kLegacyMagic + kLegacyProtocol;
  auto sys_info = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  sys_info.insert("protocol_version", int64_t{1001});
  sys_info.insert("little_endian", true);
  auto sizes = c10::impl::GenericDict(c10::StringType::get(), c10::IntType::get());
  sizes.insert("short", int64_t{2});
  sizes.insert("int", int64_t{4});
  sizes.insert("long", int64_t{8});
  sys_info.insert("type_sizes", sizes);
  detail::pickle_value(sys_info, out, nullptr, false);
  out += pkl;
  c10::List<std::string> keys;
  for (const auto& entry : storages) keys.push_back(entry.first);
  detail::pickle_value(keys, out, nullptr, false);
  for (const auto& [key, t] : storages) {
    const int64_t numel = t.numel();
    out.append(reinterpret_cast<const char*>(&numel), 8);
    if (t.nbytes()) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  }
  return out;
}

void write_torch_file(const std::string& path, const c10::IValue& value, TorchFileFormat format) {
  write_file_atomic(path, torch_file_bytes(value, format));
}

}  // namespace protoclr::interop
