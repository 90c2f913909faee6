// ReferenceCounter: which objects this process still needs. An object is kept
// while Python holds ObjectRefs to it (local references) or a task this
// process submitted takes it as an argument (submitted-task references). When
// both drop to zero the entry goes and `on_delete` frees the value. Owned
// objects were created here; borrowed ones remember their owner's address.
// Thread-safe.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"

namespace cyray::core {

class ReferenceCounter {
 public:
  // Called with the object and whether this process owned it.
  using OnDelete = std::function<void(const ObjectID &, bool owned)>;
  explicit ReferenceCounter(OnDelete on_delete) : on_delete_(std::move(on_delete)) {}

  void AddOwnedObject(const ObjectID &id);
  // Records the owner of an object this process learned about. Returns true
  // the first time (until the entry goes): then the owner must be told.
  bool AddBorrowedObject(const ObjectID &id, const std::string &owner_address);
  // Other processes that hold references to an owned object keep it too.
  bool AddBorrower(const ObjectID &id);
  void RemoveBorrower(const ObjectID &id);
  void AddLocalReference(const ObjectID &id);
  void RemoveLocalReference(const ObjectID &id);
  void AddSubmittedTaskReferences(const std::vector<ObjectID> &ids);
  void RemoveSubmittedTaskReferences(const std::vector<ObjectID> &ids);

  // Where a ref was created (recorded when CYRAY_record_ref_creation_sites=1).
  void SetCallSite(const ObjectID &id, const std::string &call_site);

  // One referenced object, for `cyray memory`.
  struct RefStats {
    ObjectID id;
    bool owned = false;
    int local_refs = 0;
    int submitted_task_refs = 0;
    int borrowers = 0;
    std::string call_site;
  };
  std::vector<RefStats> Snapshot() const;

  bool Has(const ObjectID &id) const;
  bool IsOwned(const ObjectID &id) const;
  // The owner's address of a borrowed object; nullopt for owned or unknown ones.
  std::optional<std::string> BorrowedOwnerAddress(const ObjectID &id) const;
  size_t Size() const;

 private:
  struct Entry {
    bool owned = false;
    std::string owner_address;
    int local_refs = 0;
    int submitted_task_refs = 0;
    int borrowers = 0;
    bool owner_told = false;
    std::string call_site;
  };
  // Erases `id` when unreferenced; returns whether it did. With mu_ held: the
  // caller runs on_delete_ after releasing it.
  bool EraseIfUnreferencedLocked(const ObjectID &id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable std::mutex mu_;
  std::unordered_map<ObjectID, Entry> refs_ ABSL_GUARDED_BY(mu_);
  OnDelete on_delete_;
};

}  // namespace cyray::core
