#include "cyray/object_store/spill_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace cyray::object_store {

Status FileSpillStorage::Write(const ObjectID &id, const uint8_t *data, size_t size) {
  if (!created_) {
    if (::mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create the spill directory " + directory_ + ": " +
                             std::strerror(errno));
    }
    created_ = true;
  }
  std::string path = PathOf(id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot spill to " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status::IOError("spilling to " + path + " failed: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Status::OK();
}

Status FileSpillStorage::Read(const ObjectID &id, uint8_t *out, size_t size) {
  std::string path = PathOf(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot restore " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Status::IOError("restoring " + path + " failed: short read");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Status::OK();
}

void FileSpillStorage::Remove(const ObjectID &id) { ::unlink(PathOf(id).c_str()); }

}  // namespace cyray::object_store
