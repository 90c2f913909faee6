// FetchObjectChunkReply's wire format, written and read as raw gRPC byte
// buffers so that a chunk's bytes are never copied into a protobuf string:
// the holder sends a slice of its store, the puller copies once, from gRPC's
// receive buffers into its own store. Any protobuf reader can still parse it.
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>

#include "cyray/protobuf/node_manager.pb.h"
#include "cyray/raylet/pull_manager.h"

namespace cyray::raylet {

// `header`'s fields, then `chunk` as its chunk field (written last, by hand),
// without copying the chunk. An empty chunk adds no field.
grpc::ByteBuffer EncodeChunkReply(const rpc::FetchObjectChunkReply &header, grpc::Slice chunk);

// Reads the reply's fields into `chunk` (found, sizes, size of the chunk) and
// sets *chunk_start to where the chunk's bytes begin. False if malformed.
// Leaves chunk->copy_to unset.
bool DecodeChunkReply(grpc::ByteBuffer *buffer, FetchedChunk *chunk, uint64_t *chunk_start);

// Copies `size` bytes starting `start` bytes into `buffer` to `dest`.
void CopyChunkBytes(grpc::ByteBuffer *buffer, uint64_t start, uint64_t size, uint8_t *dest);

}  // namespace cyray::raylet
