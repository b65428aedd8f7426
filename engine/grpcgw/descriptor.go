package grpcgw

import (
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// loadDescriptorSet reads a serialized FileDescriptorSet and links its files.
// Every dependency must be in the set (protoc --include_imports).
func loadDescriptorSet(name string) (*protoregistry.Files, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return parseDescriptorSet(data)
}

// parseDescriptorSet links the files of a serialized FileDescriptorSet.
func parseDescriptorSet(data []byte) (*protoregistry.Files, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a serialized google.protobuf.FileDescriptorSet: %w", err)
	}
	if len(set.File) == 0 {
		return nil, errors.New("the descriptor set holds no files")
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("invalid descriptor set (build it with --include_imports): %w", err)
	}
	return files, nil
}
