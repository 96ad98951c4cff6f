// A restricted unpickler for torch.save files. It implements only the opcodes torch.save
// emits and calls only the globals PyTorch's `weights_only=True` loader allows for tensors,
// storages and plain containers; any other global is refused by name. This is why we do
// not hand the zip format's data.pkl to torch::pickle_load: LibTorch's unpickler resolves
// globals it knows (TorchScript classes, `torch.jit._pickle.*`) and is not designed as a
// security boundary. One reader for both formats keeps a single, small allowlist.
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "pickle_internal.h"
#include "protoclr/core/error.h"

namespace protoclr::interop::detail {
namespace {

using Kind = Object::Kind;

ObjectPtr make(Kind kind) {
  auto obj = std::make_shared<Object>();
  obj->kind = kind;
  return obj;
}

const std::unordered_map<std::string, c10::ScalarType>& storage_types() {
  static const std::unordered_map<std::string, c10::ScalarType> types = {
      {"FloatStorage", c10::kFloat},   {"DoubleStorage", c10::kDouble},
      {"HalfStorage", c10::kHalf},     {"BFloat16Storage", c10::kBFloat16},
      {"LongStorage", c10::kLong},     {"IntStorage", c10::kInt},
      {"ShortStorage", c10::kShort},   {"CharStorage", c10::kChar},
      {"ByteStorage", c10::kByte},     {"BoolStorage", c10::kBool},
      {"ComplexFloatStorage", c10::kComplexFloat}, {"ComplexDoubleStorage", c10::kComplexDouble}};
  return types;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: case Kind::kBigInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "global";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

// Opcodes (Python's Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', BINFLOAT = 'G', BININT = 'J',
  BININT1 = 'K', BININT2 = 'M', NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T',
  SHORT_BINSTRING = 'U', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
  EMPTY_DICT = '}', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']',
  BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u',
  PROTO = 0x80, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89,
  LONG1 = 0x8a, BINBYTES = 'B', SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e, MEMOIZE = 0x94, FRAME = 0x95, STACK_GLOBAL = 0x93,
};

std::vector<int64_t> int_tuple(const Object& obj, const char* what, const std::string& file) {
  PROTOCLR_CHECK(obj.kind == Kind::kTuple || obj.kind == Kind::kList, "'", file, "': malformed tensor ", what,
                 " (a ", kind_name(obj.kind), ", not a tuple); the file is corrupt");
  std::vector<int64_t> out;
  for (const auto& v : obj.items) {
    PROTOCLR_CHECK(v->kind == Kind::kInt && v->i >= 0, "'", file, "': malformed tensor ", what,
                   "; the file is corrupt");
    out.push_back(v->i);
  }
  return out;
}

}  // namespace

std::string storage_type_name(c10::ScalarType dtype) {
  for (const auto& [name, type] : storage_types())
    if (type == dtype) return name;
  throw Error(std::string("cannot save tensors of dtype ") + c10::toString(dtype));
}

Unpickler::Unpickler(const char* data, size_t size, size_t begin, std::string file, PersistentLoad persistent_load)
    : data_(data), size_(size), pos_(begin), file_(std::move(file)), persistent_load_(std::move(persistent_load)) {}

Unpickler::~Unpickler() {
  // Dismantle every container without recursion: hostile pickles can nest millions deep
  // (a recursive shared_ptr destructor would overflow the stack) or build cycles (a leak).
  for (auto& obj : owned_) {
    obj->items.clear();
    obj->entries.clear();
  }
}

void Unpickler::fail(const std::string& what) const {
  throw Error("cannot read '" + file_ + "': " + what + " at byte " + std::to_string(pos_) +
              " (not a torch.save file, or truncated/corrupt; re-save it with torch.save)");
}

void Unpickler::need(size_t n) const {
  if (n > size_ - pos_) fail("unexpected end of the pickle");
}

uint8_t Unpickler::u8() {
  need(1);
  return static_cast<uint8_t>(data_[pos_++]);
}

uint64_t Unpickler::le(size_t n) {
  need(n);
  uint64_t v = 0;
  for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + k])) << (8 * k);
  pos_ += n;
  return v;
}

std::string Unpickler::bytes(size_t n) {
  need(n);
  std::string s(data_ + pos_, n);
  pos_ += n;
  return s;
}

std::string Unpickler::line() {
  const size_t limit = std::min(size_ - pos_, size_t{256});
  const void* nl = std::memchr(data_ + pos_, '\n', limit);
  if (!nl) fail("unterminated GLOBAL name");
  const size_t n = static_cast<const char*>(nl) - (data_ + pos_);
  std::string s(data_ + pos_, n);
  pos_ += n + 1;
  return s;
}

ObjectPtr Unpickler::own(ObjectPtr obj) {
  if (obj->kind == Kind::kTuple || obj->kind == Kind::kList || obj->kind == Kind::kDict) owned_.push_back(obj);
  return obj;
}

ObjectPtr Unpickler::pop() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle stack underflow");
  auto v = std::move(stack_.back());
  stack_.pop_back();
  return v;
}

std::vector<ObjectPtr> Unpickler::pop_mark() {
  if (marks_.empty()) fail("pickle MARK missing");
  const size_t m = marks_.back();
  marks_.pop_back();
  std::vector<ObjectPtr> items(std::make_move_iterator(stack_.begin() + m), std::make_move_iterator(stack_.end()));
  stack_.resize(m);
  return items;
}

ObjectPtr Unpickler::global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  static const std::vector<std::string> allowed = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.Size",
      "torch.device", "_codecs.encode"};
  const bool storage = module == "torch" && storage_types().count(name) > 0;
  if (!storage && std::find(allowed.begin(), allowed.end(), full) == allowed.end())
    throw Error("refusing to load '" + file_ + "': its pickle calls '" + full +
                "', which is not a tensor, storage or plain container (checkpoints are untrusted input; "
                "re-save the state dict with torch.save if the file is yours)");
  auto obj = make(Kind::kGlobal);
  obj->s = full;
  return obj;
}

ObjectPtr Unpickler::reduce(const Object& callable, const Object& args) {
  if (callable.kind != Kind::kGlobal) fail("REDUCE on a " + std::string(kind_name(callable.kind)));
  if (args.kind != Kind::kTuple) fail("REDUCE arguments are not a tuple");
  const std::string& fn = callable.s;
  const auto& a = args.items;
  auto bad = [&]() { fail("malformed arguments to " + fn); };
  if (fn == "collections.OrderedDict") {
    if (!a.empty()) bad();
    return own(make(Kind::kDict));
  }
  if (fn == "torch._utils._rebuild_tensor_v2" || fn == "torch._utils._rebuild_tensor") {
    // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
    if (a.size() < 4 || a.size() > 7 || a[0]->kind != Kind::kStorage || a[1]->kind != Kind::kInt) bad();
    auto t = std::make_shared<TensorRef>();
    t->storage = *a[0]->storage;
    t->offset = a[1]->i;
    t->sizes = int_tuple(*a[2], "size", file_);
    t->strides = int_tuple(*a[3], "stride", file_);
    if (t->sizes.size() != t->strides.size() || t->sizes.size() > 64 || t->offset < 0) bad();
    // Every element the view touches must lie inside its storage.
    int64_t last = t->offset;
    bool empty = false;
    for (size_t d = 0; d < t->sizes.size(); ++d) {
      if (t->sizes[d] == 0) empty = true;
      if (t->sizes[d] > 0 && t->strides[d] > (int64_t{1} << 40)) bad();
      if (t->sizes[d] > (int64_t{1} << 40)) bad();
      last += (t->sizes[d] - 1) * t->strides[d];
    }
    if (!empty && last >= t->storage.numel)
      fail("tensor of size " + c10::str(c10::IntArrayRef(t->sizes)) + " exceeds its storage of " +
           std::to_string(t->storage.numel) + " elements");
    auto obj = make(Kind::kTensor);
    obj->tensor = std::move(t);
    return obj;
  }
  if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
    if (a.size() < 3 || a[0]->kind != Kind::kTensor) bad();
    return a[0];
  }
  if (fn == "torch.Size") {
    if (a.size() != 1 || a[0]->kind != Kind::kTuple) bad();
    return a[0];
  }
  if (fn == "torch.device") {
    if (a.empty() || a[0]->kind != Kind::kString) bad();
    auto obj = make(Kind::kString);
    obj->s = a[0]->s;
    if (a.size() > 1 && a[1]->kind == Kind::kInt) obj->s += ":" + std::to_string(a[1]->i);
    return obj;
  }
  if (fn == "_codecs.encode") {  // how protocol 2 pickles Python 3 bytes
    if (a.size() != 2 || a[0]->kind != Kind::kString || a[1]->kind != Kind::kString || a[1]->s != "latin1") bad();
    auto obj = make(Kind::kBytes);
    // The str holds code points < 256 as UTF-8; latin1 maps each back to one byte.
    const std::string& u = a[0]->s;
    for (size_t k = 0; k < u.size(); ++k) {
      const auto c = static_cast<uint8_t>(u[k]);
      if (c < 0x80) {
        obj->s.push_back(static_cast<char>(c));
      } else if ((c & 0xE0) == 0xC0 && k + 1 < u.size()) {
        obj->s.push_back(static_cast<char>(((c & 0x1F) << 6) | (static_cast<uint8_t>(u[++k]) & 0x3F)));
      } else {
        bad();
      }
    }
    return obj;
  }
  fail("'" + fn + "' cannot be called");  // storage types are values, never called
}

ObjectPtr Unpickler::load() {
  for (;;) {
    const uint8_t op = u8();
    switch (op) {
      case PROTO: {
        const uint8_t proto = u8();
        if (proto < 2 || proto > 5) fail("unsupported pickle protocol " + std::to_string(proto));
        break;
      }
      case FRAME: le(8); break;
      case STOP: {
        if (stack_.size() != 1 || !marks_.empty()) fail("malformed pickle (stack at STOP)");
        return stack_.back();
      }
      case MARK: marks_.push_back(stack_.size()); break;
      case POP: pop(); break;
      case POP_MARK: pop_mark(); break;
      case DUP: { auto v = pop(); stack_.push_back(v); stack_.push_back(v); break; }
      case NONE: stack_.push_back(make(Kind::kNone)); break;
      case NEWTRUE: case NEWFALSE: {
        auto v = make(Kind::kBool);
        v->b = op == NEWTRUE;
        stack_.push_back(v);
        break;
      }
      case BININT: case BININT1: case BININT2: {
        auto v = make(Kind::kInt);
        if (op == BININT) v->i = static_cast<int32_t>(le(4));
        else v->i = static_cast<int64_t>(le(op == BININT1 ? 1 : 2));
        stack_.push_back(v);
        break;
      }
      case LONG1: {
        const size_t n = u8();
        auto v = make(Kind::kInt);
        if (n <= 8) {
          uint64_t raw = n ? le(n) : 0;
          if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t{0} << (8 * n);  // sign-extend
          v->i = static_cast<int64_t>(raw);
        } else {
          v->kind = Kind::kBigInt;
          v->s = bytes(n);
        }
        stack_.push_back(v);
        break;
      }
      case BINFLOAT: {
        need(8);
        uint64_t raw = 0;
        for (int k = 0; k < 8; ++k) raw = (raw << 8) | static_cast<uint8_t>(data_[pos_ + k]);  // big-endian
        pos_ += 8;
        auto v = make(Kind::kFloat);
        std::memcpy(&v->f, &raw, 8);
        stack_.push_back(v);
        break;
      }
      case BINUNICODE: case SHORT_BINUNICODE: case BINUNICODE8: case BINSTRING: case SHORT_BINSTRING:
      case BINBYTES: case SHORT_BINBYTES: case BINBYTES8: {
        const size_t width = (op == SHORT_BINUNICODE || op == SHORT_BINSTRING || op == SHORT_BINBYTES) ? 1
                             : (op == BINUNICODE8 || op == BINBYTES8)                                 ? 8
                                                                                                        : 4;
        const uint64_t n = le(width);
        if (n > size_ - pos_) fail("string runs past the end of the file");
        auto v = make((op == BINBYTES || op == SHORT_BINBYTES || op == BINBYTES8) ? Kind::kBytes : Kind::kString);
        v->s = bytes(static_cast<size_t>(n));
        stack_.push_back(v);
        break;
      }
      case EMPTY_DICT: stack_.push_back(own(make(Kind::kDict))); break;
      case EMPTY_LIST: stack_.push_back(own(make(Kind::kList))); break;
      case EMPTY_TUPLE: stack_.push_back(own(make(Kind::kTuple))); break;
      case TUPLE: case LIST: {
        auto v = own(make(op == TUPLE ? Kind::kTuple : Kind::kList));
        v->items = pop_mark();
        stack_.push_back(v);
        break;
      }
      case TUPLE1: case TUPLE2: case TUPLE3: {
        const size_t n = op - TUPLE1 + 1;
        auto v = own(make(Kind::kTuple));
        v->items.resize(n);
        for (size_t k = n; k-- > 0;) v->items[k] = pop();
        stack_.push_back(v);
        break;
      }
      case DICT: {
        auto items = pop_mark();
        if (items.size() % 2) fail("odd number of items for DICT");
        auto v = own(make(Kind::kDict));
        for (size_t k = 0; k < items.size(); k += 2) v->entries.emplace_back(items[k], items[k + 1]);
        stack_.push_back(v);
        break;
      }
      case APPEND: case APPENDS: {
        std::vector<ObjectPtr> items;
        if (op == APPEND) items.push_back(pop());
        else items = pop_mark();
        if (stack_.empty() || stack_.back()->kind != Kind::kList) fail("APPEND to a non-list");
        auto& list = stack_.back()->items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case SETITEM: case SETITEMS: {
        std::vector<ObjectPtr> items;
        if (op == SETITEM) {
          auto value = pop();
          auto key = pop();
          items = {key, value};
        } else {
          items = pop_mark();
        }
        if (items.size() % 2) fail("odd number of items for SETITEMS");
        if (stack_.empty() || stack_.back()->kind != Kind::kDict) fail("SETITEM on a non-dict");
        auto& dict = stack_.back()->entries;
        for (size_t k = 0; k < items.size(); k += 2) dict.emplace_back(items[k], items[k + 1]);
        break;
      }
      case BINPUT: case LONG_BINPUT: case MEMOIZE: {
        if (stack_.empty()) fail("memoising an empty stack");
        const uint32_t key = op == MEMOIZE ? static_cast<uint32_t>(memo_.size())
                                           : static_cast<uint32_t>(le(op == BINPUT ? 1 : 4));
        memo_[key] = stack_.back();
        break;
      }
      case BINGET: case LONG_BINGET: {
        const uint32_t key = static_cast<uint32_t>(le(op == BINGET ? 1 : 4));
        auto it = memo_.find(key);
        if (it == memo_.end()) fail("memo key " + std::to_string(key) + " missing");
        stack_.push_back(it->second);
        break;
      }
      case GLOBAL: {
        const std::string module = line();
        const std::string name = line();
        stack_.push_back(global(module, name));
        break;
      }
      case STACK_GLOBAL: {
        auto name = pop();
        auto module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString) fail("malformed STACK_GLOBAL");
        stack_.push_back(global(module->s, name->s));
        break;
      }
      case REDUCE: {
        auto args = pop();
        auto callable = pop();
        stack_.push_back(reduce(*callable, *args));
        break;
      }
      case BUILD: {
        // Sets instance state: an OrderedDict's `_metadata` (state_dict versions) or a
        // tensor's Python attributes. Neither matters for the weights; both are dropped.
        auto state = pop();
        if (stack_.empty()) fail("BUILD on an empty stack");
        const auto k = stack_.back()->kind;
        if (k != Kind::kDict && k != Kind::kTensor) fail(std::string("BUILD on a ") + kind_name(k));
        break;
      }
      case BINPERSID: {
        auto pid = pop();
        if (!persistent_load_) fail("persistent id in a pickle that may not have one");
        auto obj = make(Kind::kStorage);
        obj->storage = persistent_load_(*pid);
        stack_.push_back(obj);
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        --pos_;
        fail(std::string("unsupported pickle opcode ") + hex);
      }
    }
  }
}

torch::Tensor materialize(const Object& obj, const std::string& file) {
  TORCH_INTERNAL_ASSERT(obj.kind == Object::Kind::kTensor);
  const auto& t = *obj.tensor;
  const auto& root = t.storage.root;
  PROTOCLR_CHECK(root->data.defined(), "cannot read '", file, "': the data of storage '", root->key,
                 "' is missing (truncated or corrupt file)");
  auto view = root->data.narrow(0, t.storage.offset, t.storage.numel);
  return view.as_strided(t.sizes, t.strides, view.storage_offset() + t.offset);
}

}  // namespace protoclr::interop::detail
