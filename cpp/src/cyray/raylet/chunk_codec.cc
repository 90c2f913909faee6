#include "cyray/raylet/chunk_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace cyray::raylet {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using Reply = rpc::FetchObjectChunkReply;

grpc::ByteBuffer EncodeChunkReply(const Reply &header, grpc::Slice chunk) {
  std::string head = header.SerializeAsString();
  if (chunk.size() == 0) {
    grpc::Slice only(head);
    return grpc::ByteBuffer(&only, 1);
  }
  uint8_t prefix[16];
  uint8_t *end = CodedOutputStream::WriteTagToArray(
      WireFormatLite::MakeTag(Reply::kChunkFieldNumber, WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      prefix);
  end = CodedOutputStream::WriteVarint64ToArray(chunk.size(), end);
  head.append(reinterpret_cast<const char *>(prefix), end - prefix);
  grpc::Slice slices[2] = {grpc::Slice(head), std::move(chunk)};
  return grpc::ByteBuffer(slices, 2);
}

bool DecodeChunkReply(grpc::ByteBuffer *buffer, FetchedChunk *chunk, uint64_t *chunk_start) {
  grpc::ProtoBufferReader reader(buffer);
  CodedInputStream in(&reader);
  while (uint32_t tag = in.ReadTag()) {
    int field = WireFormatLite::GetTagFieldNumber(tag);
    auto wire_type = WireFormatLite::GetTagWireType(tag);
    uint64_t value = 0;
    if (wire_type == WireFormatLite::WIRETYPE_VARINT && field == Reply::kFoundFieldNumber) {
      if (!in.ReadVarint64(&value)) return false;
      chunk->found = value != 0;
    } else if (wire_type == WireFormatLite::WIRETYPE_VARINT &&
               field == Reply::kDataSizeFieldNumber) {
      if (!in.ReadVarint64(&chunk->data_size)) return false;
    } else if (wire_type == WireFormatLite::WIRETYPE_VARINT &&
               field == Reply::kMetadataSizeFieldNumber) {
      if (!in.ReadVarint64(&chunk->metadata_size)) return false;
    } else if (wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
               field == Reply::kChunkFieldNumber) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      *chunk_start = static_cast<uint64_t>(in.CurrentPosition());
      chunk->size = length;
      if (!in.Skip(static_cast<int>(length))) return false;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

void CopyChunkBytes(grpc::ByteBuffer *buffer, uint64_t start, uint64_t size, uint8_t *dest) {
  grpc::ProtoBufferReader reader(buffer);
  reader.Skip(static_cast<int>(start));
  const void *data = nullptr;
  int length = 0;
  while (size > 0 && reader.Next(&data, &length)) {
    uint64_t n = std::min<uint64_t>(size, static_cast<uint64_t>(length));
    std::memcpy(dest, data, n);
    dest += n;
    size -= n;
  }
}

}  // namespace cyray::raylet
