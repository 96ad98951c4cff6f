// The writing half: a protocol-2 pickle of the few value types a state dict file holds.
// Python's own unpickler (and PyTorch's weights_only loader) read it.
#include <cstring>

#include "pickle_internal.h"
#include "protoclr/core/error.h"

namespace protoclr::interop::detail {
namespace {

void put_int(std::string& out, int64_t v) {
  if (v >= 0 && v < 256) {
    out += 'K';
    out += static_cast<char>(v);
  } else if (v >= 0 && v < 65536) {
    out += 'M';
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out += 'J';
    const auto u = static_cast<uint32_t>(static_cast<int32_t>(v));
    for (int k = 0; k < 4; ++k) out += static_cast<char>((u >> (8 * k)) & 0xff);
  } else {
    out += '\x8a';  // LONG1, 8 bytes two's complement
    out += '\x08';
    const auto u = static_cast<uint64_t>(v);
    for (int k = 0; k < 8; ++k) out += static_cast<char>((u >> (8 * k)) & 0xff);
  }
}

void put_str(std::string& out, const std::string& s) {
  out += 'X';
  const auto n = static_cast<uint32_t>(s.size());
  for (int k = 0; k < 4; ++k) out += static_cast<char>((n >> (8 * k)) & 0xff);
  out += s;
}

void put_int_tuple(std::string& out, c10::IntArrayRef values) {
  out += '(';
  for (int64_t v : values) put_int(out, v);
  out += 't';
}

struct Writer {
  std::string& out;
  const std::function<std::string(const torch::Tensor&)>& on_tensor;
  bool legacy;

  void tensor(const torch::Tensor& value) {
    const auto t = value.detach().cpu().contiguous();
    const std::string key = on_tensor(t);
    out += "ctorch._utils\n_rebuild_tensor_v2\n(";
    out += "(";  // persistent id of the storage
    put_str(out, "storage");
    out += "ctorch\n" + storage_type_name(t.scalar_type()) + "\n";
    put_str(out, key);
    put_str(out, "cpu");
    put_int(out, t.numel());
    if (legacy) out += 'N';  // view_metadata
    out += "tQ";
    put_int(out, 0);
    put_int_tuple(out, t.sizes());
    put_int_tuple(out, t.strides());
    out += '\x89';                                  // requires_grad = False
    out += "ccollections\nOrderedDict\n)R";  // backward_hooks = OrderedDict()
    out += "tR";
  }

  void value(const c10::IValue& v) {
    if (v.isNone()) {
      out += 'N';
    } else if (v.isBool()) {
      out += v.toBool() ? '\x88' : '\x89';
    } else if (v.isInt()) {
      put_int(out, v.toInt());
    } else if (v.isDouble()) {
      const double d = v.toDouble();
      uint64_t raw;
      std::memcpy(&raw, &d, 8);
      out += 'G';
      for (int k = 7; k >= 0; --k) out += static_cast<char>((raw >> (8 * k)) & 0xff);
    } else if (v.isString()) {
      put_str(out, v.toStringRef());
    } else if (v.isTensor()) {
      tensor(v.toTensor());
    } else if (v.isGenericDict()) {
      out += '}';
      const auto dict = v.toGenericDict();
      if (dict.size() == 0) return;
      out += '(';
      for (const auto& item : dict) {
        value(item.key());
        value(item.value());
      }
      out += 'u';
    } else if (v.isList()) {
      out += ']';
      const auto list = v.toListRef();
      if (list.empty()) return;
      out += '(';
      for (const auto& item : list) value(item);
      out += 'e';
    } else if (v.isTuple()) {
      out += '(';
      for (const auto& item : v.toTupleRef().elements()) value(item);
      out += 't';
    } else {
      TORCH_INTERNAL_ASSERT(false, "pickle_value: unsupported IValue ", v.tagKind());
    }
  }
};

}  // namespace

void pickle_value(const c10::IValue& value, std::string& out,
                  const std::function<std::string(const torch::Tensor&)>& on_tensor, bool legacy_ids) {
  out += "\x80\x02";
  Writer{out, on_tensor, legacy_ids}.value(value);
  out += '.';
}

}  // namespace protoclr::interop::detail
