#include "cyray/raylet/local_message_validation.h"

#include <gtest/gtest.h>

#include <random>

#include "cyray/common/id.h"
#include "cyray/protobuf/local_protocol.pb.h"

namespace cyray::raylet {
namespace {

constexpr uint64_t kCapacity = 1 << 20;  // a store's size, for object sizes

std::string Create(const std::string &id, uint64_t data, uint64_t metadata) {
  rpc::PlasmaCreateRequest m;
  m.set_object_id(id);
  m.set_data_size(data);
  m.set_metadata_size(metadata);
  return m.SerializeAsString();
}

TEST(LocalMessageValidationTest, AcceptsWellFormedMessages) {
  std::string id = ObjectID::FromRandom().Binary();
  EXPECT_TRUE(ValidateLocalMessage(rpc::PLASMA_CREATE_REQUEST, Create(id, 1000, 10)).ok());
  rpc::PlasmaDelete del;
  del.add_object_ids(id);
  EXPECT_TRUE(ValidateLocalMessage(rpc::PLASMA_DELETE, del.SerializeAsString()).ok());
  rpc::RegisterClientRequest reg;
  reg.set_worker_id(WorkerID::FromRandom().Binary());
  reg.set_worker_type(rpc::DRIVER);
  EXPECT_TRUE(ValidateLocalMessage(rpc::REGISTER_CLIENT_REQUEST, reg.SerializeAsString()).ok());
  EXPECT_TRUE(ValidateLocalMessage(rpc::NOTIFY_TASK_BLOCKED, "").ok());
}

TEST(LocalMessageValidationTest, RejectsTheDemonstratedAttacks) {
  std::string id = ObjectID::FromRandom().Binary();
  // Sizes of 2^63 each: their sum wraps to 0.
  uint64_t huge = uint64_t{1} << 63;
  EXPECT_FALSE(ValidateLocalMessage(rpc::PLASMA_CREATE_REQUEST, Create(id, huge, huge)).ok());
  EXPECT_FALSE(
      ValidateLocalMessage(rpc::PLASMA_CREATE_REQUEST, Create(id, kMaxObjectSize, 1)).ok());
  // Merely larger than the store is well-formed: the store refuses it with a clear error.
  EXPECT_TRUE(ValidateLocalMessage(rpc::PLASMA_CREATE_REQUEST, Create(id, kCapacity, 1)).ok());
  // A 1-byte object id (it used to become the nil id).
  EXPECT_FALSE(ValidateLocalMessage(rpc::PLASMA_CREATE_REQUEST, Create("x", 1, 0)).ok());
  rpc::PlasmaGetRequest get;
  get.set_object_id("");
  EXPECT_FALSE(ValidateLocalMessage(rpc::PLASMA_GET_REQUEST, get.SerializeAsString()).ok());
  EXPECT_FALSE(ValidateLocalMessage(999, "").ok());
  EXPECT_FALSE(ValidateLocalMessage(rpc::NOTIFY_TASK_BLOCKED, "junk").ok());
  rpc::RegisterClientRequest reg;
  reg.set_worker_id("short");
  EXPECT_FALSE(ValidateLocalMessage(rpc::REGISTER_CLIENT_REQUEST, reg.SerializeAsString()).ok());
}

// Random bodies for every type (and random types) never crash the validator,
// and what it accepts parses as the message of its type.
TEST(LocalMessageValidationTest, RandomInputsAreHandled) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 200), type(0, 30);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body(length(rng), '\0');
    for (char &c : body) c = static_cast<char>(byte(rng));
    uint32_t t = static_cast<uint32_t>(type(rng));
    if (ValidateLocalMessage(t, body).ok()) accepted++;
  }
  // Mostly garbage is refused; empty-bodied types may pass now and then.
  EXPECT_LT(accepted, 20000 / 4);
}

}  // namespace
}  // namespace cyray::raylet
