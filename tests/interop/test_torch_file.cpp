// The torch.save reader and writer on their own: round trips in both formats, and hostile
// or broken input built byte by byte (no Python needed).
#include <gtest/gtest.h>

#include <caffe2/serialize/inline_container.h>

#include <fstream>
#include <random>

#include "protoclr/core/error.h"
#include "protoclr/interop/torch_file.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace protoclr::interop {
namespace {

using namespace std::string_literals;  // "..."s keeps embedded NUL bytes

using Dict = c10::impl::GenericDict;
Dict str_dict() { return Dict(c10::StringType::get(), c10::AnyType::get()); }

std::string u32(uint32_t n) { return std::string(reinterpret_cast<const char*>(&n), 4); }
std::string str(const std::string& s) { return "X" + u32(static_cast<uint32_t>(s.size())) + s; }

/// A legacy file around `main`: magic, protocol, system info, `main`, then `tail`.
std::string legacy_file(const std::string& main, const std::string& tail = "\x80\x02].") {
  const std::string magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  const std::string protocol("\x80\x02M\xe9\x03.", 6);
  const std::string sys_info = "\x80\x02}" + str("little_endian") + "\x88s.";
  return magic + protocol + sys_info + main + tail;
}

/// A zip-format file whose data.pkl is `pickle`.
std::string zip_file(const std::string& pickle) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
    out.append(static_cast<const char*>(buf), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  writer.writeEndOfFile();
  return out;
}

using test_support::error_of;

c10::IValue sample_value() {
  torch::manual_seed(1);
  auto sd = str_dict();
  sd.insert("conv1.weight", torch::randn({4, 3, 3, 3}));
  sd.insert("bn1.num_batches_tracked", torch::tensor(int64_t{42}));
  sd.insert("half", torch::randn({5}).to(torch::kHalf));
  sd.insert("bf16", torch::randn({2, 2}).to(torch::kBFloat16));
  sd.insert("mask", torch::tensor({true, false, true}));
  sd.insert("double", torch::randn({3}, torch::kDouble));
  sd.insert("transposed", torch::randn({3, 5}).t());  // non-contiguous: written contiguous
  sd.insert("empty", torch::empty({0, 7}));
  auto top = str_dict();
  top.insert("epoch", int64_t{200});
  top.insert("big", int64_t{1} << 40);
  top.insert("negative", int64_t{-70000});
  top.insert("arch", std::string("resnet50"));
  top.insert("lr", 0.03);
  top.insert("flag", true);
  top.insert("nothing", c10::IValue());
  top.insert("state_dict", sd);
  c10::impl::GenericList list(c10::AnyType::get());
  list.push_back(torch::arange(6, torch::kLong));
  top.insert("list", list);
  return top;
}

void expect_sample(const TorchFile& f) {
  const auto expected = sample_value().toGenericDict().at("state_dict").toGenericDict();
  ASSERT_EQ(f.tensors.size(), expected.size() + 1);
  size_t i = 0;
  for (const auto& item : expected) {
    const auto& [key, t] = f.tensors[i++];
    EXPECT_EQ(key, "state_dict." + item.key().toStringRef());
    const auto want = item.value().toTensor();
    EXPECT_EQ(t.scalar_type(), want.scalar_type()) << key;
    EXPECT_EQ(t.sizes(), want.sizes()) << key;
    EXPECT_TRUE(torch::equal(t, want)) << key;
  }
  EXPECT_EQ(f.tensors.back().first, "list.0");
  EXPECT_TRUE(torch::equal(f.tensors.back().second, torch::arange(6, torch::kLong)));
  EXPECT_EQ(f.scalars["epoch"], 200);
  EXPECT_EQ(f.scalars["big"], int64_t{1} << 40);
  EXPECT_EQ(f.scalars["negative"], -70000);
  EXPECT_EQ(f.scalars["arch"], "resnet50");
  EXPECT_DOUBLE_EQ(f.scalars["lr"].get<double>(), 0.03);
  EXPECT_EQ(f.scalars["flag"], true);
  EXPECT_TRUE(f.scalars["nothing"].is_null());
}

TEST(TorchFile, ZipRoundTrip) {
  const auto bytes = torch_file_bytes(sample_value(), TorchFileFormat::kZip);
  const auto f = read_torch_bytes(bytes, "mem.pth");
  EXPECT_EQ(f.format, TorchFileFormat::kZip);
  expect_sample(f);
}

TEST(TorchFile, LegacyRoundTrip) {
  const auto bytes = torch_file_bytes(sample_value(), TorchFileFormat::kLegacy);
  const auto f = read_torch_bytes(bytes, "mem.pth");
  EXPECT_EQ(f.format, TorchFileFormat::kLegacy);
  expect_sample(f);
}

TEST(TorchFile, FileRoundTrip) {
  test_support::TempDir dir;
  const auto path = (dir.path() / "x.pth").string();
  write_torch_file(path, sample_value(), TorchFileFormat::kLegacy);
  expect_sample(read_torch_file(path));
  write_torch_file(path, sample_value());
  expect_sample(read_torch_file(path));
}

TEST(TorchFile, MissingAndForeignFiles) {
  EXPECT_NE(error_of([] { read_torch_file("/nonexistent/x.pth"); }).find("/nonexistent/x.pth"), std::string::npos);
  EXPECT_NE(error_of([] { read_torch_bytes("hello world, not a checkpoint", "bad.pth"); }).find("'bad.pth'"),
            std::string::npos);
  EXPECT_NE(error_of([] { read_torch_bytes("", "empty.pth"); }).find("'empty.pth'"), std::string::npos);
  std::string tar(1024, '\0');
  tar.replace(257, 5, "ustar");
  EXPECT_NE(error_of([&] { read_torch_bytes(tar, "old.tar"); }).find("tar format"), std::string::npos);
  // A zip archive that is not a torch.save file.
  std::string zip;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
      zip.append(static_cast<const char*>(buf), n);
      return n;
    });
    writer.writeRecord("code/model.py", "x", 1);
    writer.writeEndOfFile();
  }
  EXPECT_NE(error_of([&] { read_torch_bytes(zip, "script.pt"); }).find("without data.pkl"), std::string::npos);
  // Not a dict at the top.
  EXPECT_NE(error_of([&] { read_torch_bytes(zip_file("\x80\x02K\x05."), "int.pth"); }).find("not a dict"),
            std::string::npos);
}

TEST(TorchFile, RefusesForbiddenGlobals) {
  // What a malicious checkpoint does: GLOBAL os.system + REDUCE('echo pwned').
  const std::string os_system = "\x80\x02" "cos\nsystem\n"s + str("echo pwned") + "\x85R.";
  auto msg = error_of([&] { read_torch_bytes(legacy_file(os_system), "evil.pth"); });
  EXPECT_NE(msg.find("'os.system'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("evil.pth"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;

  const std::string eval = "\x80\x02" "cbuiltins\neval\n"s + str("1+1") + "\x85R.";
  msg = error_of([&] { read_torch_bytes(zip_file(eval), "evil_zip.pth"); });
  EXPECT_NE(msg.find("'builtins.eval'"), std::string::npos) << msg;

  // Protocol 4's STACK_GLOBAL spelling of the same.
  const std::string stack_global = "\x80\x04\x8c\x08" "builtins\x8c\x04" "exec\x93"s + str("x") + "\x85R.";
  msg = error_of([&] { read_torch_bytes(zip_file(stack_global), "evil4.pth"); });
  EXPECT_NE(msg.find("'builtins.exec'"), std::string::npos) << msg;

  // A global hidden inside an otherwise fine state dict, and a non-allowlisted torch global.
  const std::string nested = "\x80\x02}"s + str("w") + "cnumpy.core.multiarray\nscalar\n)Rs.";
  msg = error_of([&] { read_torch_bytes(zip_file(nested), "np.pth"); });
  EXPECT_NE(msg.find("'numpy.core.multiarray.scalar'"), std::string::npos) << msg;
  msg = error_of([&] { read_torch_bytes(zip_file("\x80\x02" "ctorch\nload\n."), "t.pth"); });
  EXPECT_NE(msg.find("'torch.load'"), std::string::npos) << msg;
  // Allowed globals may not be called in ways torch.save never does.
  msg = error_of([&] { read_torch_bytes(zip_file("\x80\x02" "ctorch\nFloatStorage\n)R."), "s.pth"); });
  EXPECT_NE(msg.find("cannot be called"), std::string::npos) << msg;
  // Unsupported opcodes (protocol 0 INST, which would construct arbitrary objects).
  msg = error_of([&] { read_torch_bytes(zip_file("\x80\x02iposix\nsystem\n."), "inst.pth"); });
  EXPECT_NE(msg.find("unsupported pickle opcode 0x69"), std::string::npos) << msg;
}

TEST(TorchFile, TensorOutsideItsStorageIsRefused) {
  // A tensor of 10 elements on a storage of 1: reading it would run past the buffer.
  const std::string main = "\x80\x02}"s + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") +
                           "ctorch\nFloatStorage\n" + str("0") + str("cpu") + "K\x01Nt" "QK\x00K\x0a\x85K\x01\x85\x89"
                           "ccollections\nOrderedDict\n)RtRs."s;
  std::string tail = "\x80\x02]" + str("0") + "a.";
  const int64_t one = 1;
  tail += std::string(reinterpret_cast<const char*>(&one), 8) + std::string(4, '\0');
  const auto msg = error_of([&] { read_torch_bytes(legacy_file(main, tail), "oob.pth"); });
  EXPECT_NE(msg.find("exceeds its storage"), std::string::npos) << msg;
}

TEST(TorchFile, TruncatedFilesGiveOneLineErrors) {
  for (auto format : {TorchFileFormat::kLegacy, TorchFileFormat::kZip}) {
    const auto bytes = torch_file_bytes(sample_value(), format);
    for (size_t n = 0; n < bytes.size(); n += (n < 400 ? 1 : 97)) {
      const auto msg = error_of([&] { read_torch_bytes(bytes.substr(0, n), "cut.pth"); });
      EXPECT_NE(msg.find("cut.pth"), std::string::npos) << to_string(format) << " cut at " << n << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      if (HasFailure()) return;
    }
  }
}

TEST(TorchFile, CorruptedBytesNeverCrash) {
  for (auto format : {TorchFileFormat::kLegacy, TorchFileFormat::kZip}) {
    const auto good = torch_file_bytes(sample_value(), format);
    std::mt19937 rng(7);
    for (int trial = 0; trial < 300; ++trial) {
      auto bytes = good;
      for (int k = 0; k < 3; ++k) bytes[rng() % std::min<size_t>(bytes.size(), 2048)] = static_cast<char>(rng());
      try {
        read_torch_bytes(bytes, "fuzz.pth");
      } catch (const Error&) {
      }
    }
  }
}

TEST(TorchFile, HostileStructuresDoNotHangOrOverflow) {
  // A million nested lists: a recursive teardown would overflow the stack.
  const int n = 1000000;
  const std::string deep = "\x80\x02" + std::string(n + 1, ']') + std::string(n, 'a') + ".";
  EXPECT_NE(error_of([&] { read_torch_bytes(zip_file(deep), "deep.pth"); }).find("not a dict"), std::string::npos);
  // A dict that contains itself.
  const std::string cycle = "\x80\x02}q\x00"s + str("self") + "h\x00s."s;
  const auto f = read_torch_bytes(zip_file(cycle), "cycle.pth");
  EXPECT_TRUE(f.tensors.empty());
  // Stack underflow and a missing memo entry.
  EXPECT_NE(error_of([&] { read_torch_bytes(zip_file("\x80\x02s."), "u.pth"); }).find("u.pth"), std::string::npos);
  EXPECT_NE(error_of([&] { read_torch_bytes(zip_file("\x80\x02h\x09."s), "m.pth"); }).find("memo"), std::string::npos);
}

}  // namespace
}  // namespace protoclr::interop
