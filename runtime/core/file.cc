#include "runtime/core/file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#if defined(__unix__) || defined(__APPLE__)
#define KITE_HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace kite {
namespace {

class BufferView final : public FileView {
 public:
  BufferView(std::vector<uint8_t> bytes, std::string name) : bytes_(std::move(bytes)), name_(std::move(name)) {}
  const uint8_t* data() const override { return bytes_.data(); }
  uint64_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return name_; }

 private:
  std::vector<uint8_t> bytes_;
  std::string name_;
};

class ExternalView final : public FileView {
 public:
  ExternalView(const uint8_t* data, uint64_t size, std::string name) : data_(data), size_(size), name_(std::move(name)) {}
  const uint8_t* data() const override { return data_; }
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
  std::string name_;
};

#if KITE_HAVE_MMAP
class MappedView final : public FileView {
 public:
  MappedView(void* addr, uint64_t size, std::string name) : addr_(addr), size_(size), name_(std::move(name)) {}
  ~MappedView() override {
    if (addr_ != nullptr && size_ > 0) munmap(addr_, size_);
  }
  const uint8_t* data() const override { return static_cast<const uint8_t*>(addr_); }
  uint64_t size() const override { return size_; }
  const std::string& name() const override { return name_; }

 private:
  void* addr_;
  uint64_t size_;
  std::string name_;
};
#endif

}  // namespace

Result<std::unique_ptr<FileView>> MapFile(const std::string& path) {
#if KITE_HAVE_MMAP
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return IoError("cannot stat '" + path + "': " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return IoError("'" + path + "' is not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return std::unique_ptr<FileView>(new BufferView({}, path));
  }
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (addr == MAP_FAILED) return IoError("cannot map '" + path + "': " + std::strerror(err));
  return std::unique_ptr<FileView>(new MappedView(addr, size, path));
#else
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open '" + path + "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return std::unique_ptr<FileView>(new BufferView(std::move(bytes), path));
#endif
}

std::unique_ptr<FileView> ViewOfBuffer(std::vector<uint8_t> bytes, std::string name) {
  return std::unique_ptr<FileView>(new BufferView(std::move(bytes), std::move(name)));
}

std::unique_ptr<FileView> ViewOfExternal(const uint8_t* data, uint64_t size, std::string name) {
  return std::unique_ptr<FileView>(new ExternalView(data, size, std::move(name)));
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IoError("cannot read '" + path + "'");
  return ss.str();
}

bool FileExists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return static_cast<bool>(in);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace kite
