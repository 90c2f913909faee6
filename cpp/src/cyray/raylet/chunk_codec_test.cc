#include "cyray/raylet/chunk_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cyray::raylet {
namespace {

std::string Flatten(const grpc::ByteBuffer &buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string bytes;
  for (const auto &slice : slices) {
    bytes.append(reinterpret_cast<const char *>(slice.begin()), slice.size());
  }
  return bytes;
}

// The same bytes, cut into slices at the given lengths (the last takes the rest).
grpc::ByteBuffer Split(const std::string &bytes, std::vector<size_t> lengths) {
  std::vector<grpc::Slice> slices;
  size_t at = 0;
  for (size_t length : lengths) {
    slices.emplace_back(bytes.substr(at, length));
    at += length;
  }
  slices.emplace_back(bytes.substr(at));
  return grpc::ByteBuffer(slices.data(), slices.size());
}

TEST(ChunkCodecTest, EncodedReplyIsAnOrdinaryProtobufMessage) {
  rpc::FetchObjectChunkReply header;
  header.set_found(true);
  header.set_data_size(300);
  header.set_metadata_size(2);
  std::string data(200, 'x');
  data[0] = 'a';
  data[199] = 'z';
  grpc::ByteBuffer buffer = EncodeChunkReply(header, grpc::Slice(data));
  rpc::FetchObjectChunkReply parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(buffer)));
  EXPECT_TRUE(parsed.found());
  EXPECT_EQ(parsed.data_size(), 300u);
  EXPECT_EQ(parsed.metadata_size(), 2u);
  EXPECT_EQ(parsed.chunk(), data);
}

TEST(ChunkCodecTest, DecodesFieldsAndCopiesTheChunkAcrossSliceBoundaries) {
  rpc::FetchObjectChunkReply reply;
  reply.set_found(true);
  reply.set_data_size(1 << 20);
  reply.set_metadata_size(7);
  std::string data;
  for (int i = 0; i < 5000; i++) data.push_back(static_cast<char>(i * 31));
  reply.set_chunk(data);
  // Cut inside the header, inside the chunk's length prefix and inside its bytes.
  grpc::ByteBuffer buffer = Split(reply.SerializeAsString(), {1, 3, 2, 1000, 1});
  FetchedChunk chunk;
  uint64_t start = 0;
  ASSERT_TRUE(DecodeChunkReply(&buffer, &chunk, &start));
  EXPECT_TRUE(chunk.found);
  EXPECT_EQ(chunk.data_size, 1u << 20);
  EXPECT_EQ(chunk.metadata_size, 7u);
  ASSERT_EQ(chunk.size, data.size());
  std::string copied(chunk.size, '\0');
  CopyChunkBytes(&buffer, start, chunk.size, reinterpret_cast<uint8_t *>(copied.data()));
  EXPECT_EQ(copied, data);
}

TEST(ChunkCodecTest, NotFoundHasNoChunk) {
  grpc::ByteBuffer buffer = EncodeChunkReply(rpc::FetchObjectChunkReply(), grpc::Slice());
  FetchedChunk chunk;
  uint64_t start = 0;
  ASSERT_TRUE(DecodeChunkReply(&buffer, &chunk, &start));
  EXPECT_FALSE(chunk.found);
  EXPECT_EQ(chunk.size, 0u);
}

TEST(ChunkCodecTest, RejectsATruncatedReply) {
  rpc::FetchObjectChunkReply reply;
  reply.set_found(true);
  reply.set_chunk(std::string(100, 'y'));
  std::string bytes = reply.SerializeAsString();
  grpc::ByteBuffer buffer = Split(bytes.substr(0, bytes.size() - 10), {});
  FetchedChunk chunk;
  uint64_t start = 0;
  EXPECT_FALSE(DecodeChunkReply(&buffer, &chunk, &start));
}

}  // namespace
}  // namespace cyray::raylet
