package asynqseal

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// What an attacker with write access to Redis does to a task: read the TaskMessage protobuf in
// the task's hash ("msg"), change fields on the wire, write it back. Asynq's own types are
// internal, so the fields are edited by number (asynq's internal/proto/asynq.proto):
const (
	fieldType    protowire.Number = 1
	fieldPayload protowire.Number = 2
	fieldID      protowire.Number = 3
	fieldQueue   protowire.Number = 4
	fieldRetry   protowire.Number = 5
	fieldTimeout protowire.Number = 8
	fieldHeaders protowire.Number = 15
)

type wireField struct {
	num protowire.Number
	typ protowire.Type
	raw []byte // the whole field: tag and value
}

func parseMsg(b []byte) ([]wireField, error) {
	var out []wireField
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("bad tag: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, fmt.Errorf("bad field %d: %w", num, protowire.ParseError(m))
		}
		out = append(out, wireField{num, typ, b[:n+m]})
		b = b[n+m:]
	}
	return out, nil
}

// setBytesField returns msg with every occurrence of field num replaced by one with value v.
func setBytesField(msg []byte, num protowire.Number, v []byte) ([]byte, error) {
	fields, err := parseMsg(msg)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range fields {
		if f.num != num {
			out = append(out, f.raw...)
		}
	}
	out = protowire.AppendTag(out, num, protowire.BytesType)
	return protowire.AppendBytes(out, v), nil
}

// newTaskMsg encodes a fresh pending task message, as a forger would write it.
func newTaskMsg(id, queue, typ string, payload []byte, headers map[string]string) []byte {
	var b []byte
	str := func(num protowire.Number, s string) {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	str(fieldType, typ)
	b = protowire.AppendTag(b, fieldPayload, protowire.BytesType)
	b = protowire.AppendBytes(b, payload)
	for k, v := range headers {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendString(entry, v)
		b = protowire.AppendTag(b, fieldHeaders, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	str(fieldID, id)
	str(fieldQueue, queue)
	b = protowire.AppendTag(b, fieldRetry, protowire.VarintType)
	b = protowire.AppendVarint(b, 25)
	b = protowire.AppendTag(b, fieldTimeout, protowire.VarintType)
	b = protowire.AppendVarint(b, 1800)
	return b
}
