package sealq

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// MaxKeys bounds the keys of one keyring (SPEC-DECISIONS 7).
const MaxKeys = 1000

// Keyring is a set of keys, JWKS-shaped on disk: at most one primary key (which signs) and any
// number of verify-only keys. It is immutable and safe for concurrent use; to rotate, load a new
// Keyring and swap the pointer (an atomic.Pointer[Keyring], for example). String, GoString,
// Format and MarshalJSON show key ids and statuses, never material.
type Keyring struct {
	keys    []*Key
	byKid   map[string]*Key
	primary *Key
}

// NewKeyring makes a keyring of keys: 1 to 1000 keys, kids unique, at most one primary.
// Errors are ERR_INVALID_KEYRING.
func NewKeyring(keys ...*Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, newErr(CodeInvalidKeyring, "a keyring needs at least one key")
	}
	if len(keys) > MaxKeys {
		return nil, newErr(CodeInvalidKeyring, "a keyring holds at most "+strconv.Itoa(MaxKeys)+" keys")
	}
	r := &Keyring{keys: make([]*Key, 0, len(keys)), byKid: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		if k == nil || k.alg == "" {
			return nil, newErr(CodeInvalidKeyring, "a keyring holds keys from ParseKey or ParseKeyring")
		}
		if _, dup := r.byKid[k.kid]; dup {
			return nil, newErr(CodeInvalidKeyring, "kid "+strconv.Quote(k.kid)+" appears twice; every key needs its own kid")
		}
		if k.status == StatusPrimary {
			if r.primary != nil {
				return nil, newErr(CodeInvalidKeyring, "keys "+strconv.Quote(r.primary.kid)+" and "+strconv.Quote(k.kid)+" are both primary; a keyring has at most one primary key")
			}
			r.primary = k
		}
		r.byKid[k.kid] = k
		r.keys = append(r.keys, k)
	}
	return r, nil
}

// ParseKeyring reads a keyring: a JWKS ({"keys": [...]}) as the TypeScript side writes it,
// private or public. The JSON is read strictly (a duplicate member name anywhere is refused);
// unknown top-level members are ignored. Errors are ERR_INVALID_KEYRING.
func ParseKeyring(jwks []byte) (*Keyring, error) {
	v, err := parseJSONText(jwks)
	if err != nil {
		return nil, newErr(CodeInvalidKeyring, "the keyring is "+err.Error()+": expected a JWKS like {\"keys\":[...]}")
	}
	var keys *jvalue
	if v.kind == jObj {
		keys = v.get("keys")
	}
	if keys == nil || keys.kind != jArr {
		return nil, newErr(CodeInvalidKeyring, `a keyring must be a JWKS: a JSON object with a "keys" array`)
	}
	if len(keys.arr) == 0 || len(keys.arr) > MaxKeys {
		return nil, newErr(CodeInvalidKeyring, "a keyring holds 1 to "+strconv.Itoa(MaxKeys)+" keys")
	}
	list := make([]*Key, 0, len(keys.arr))
	for _, kv := range keys.arr {
		k, kerr := importJWK(kv)
		if kerr != nil {
			return nil, &Error{Code: CodeInvalidKeyring, Message: "invalid keyring: " + kerr.Message, Err: kerr}
		}
		list = append(list, k)
	}
	return NewKeyring(list...)
}

// ReadKeyringFile reads a keyring file (see ParseKeyring).
func ReadKeyringFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Code: CodeInvalidKeyring, Message: "could not read the keyring file " + strconv.Quote(path) + ": " + fsReason(err), Err: err}
	}
	return ParseKeyring(b)
}

func fsReason(err error) string {
	switch {
	case os.IsNotExist(err):
		return "it does not exist"
	case os.IsPermission(err):
		return "permission denied"
	}
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// Get returns the key with this kid, or nil.
func (r *Keyring) Get(kid string) *Key { return r.byKid[kid] }

// Primary returns the primary key, or nil.
func (r *Keyring) Primary() *Key { return r.primary }

// Keys returns the keys in document order.
func (r *Keyring) Keys() []*Key { return append([]*Key(nil), r.keys...) }

// Len returns the number of keys.
func (r *Keyring) Len() int { return len(r.keys) }

// signer returns the primary key if it can sign.
func (r *Keyring) signer() (*Key, *Error) {
	if r == nil {
		return nil, invalidArg("no keyring given")
	}
	p := r.primary
	if p == nil {
		return nil, newErr(CodeNoSigningKey, `this keyring has no primary key: mark one key with status "primary" (sealq key promote KID)`)
	}
	if !p.CanSign() {
		return nil, newErr(CodeNoSigningKey, "the primary key "+strconv.Quote(p.kid)+" has no private material here (a public keyring verifies only); load the private keyring to seal")
	}
	return p, nil
}

// String lists kids, algorithms and statuses.
func (r Keyring) String() string {
	parts := make([]string, len(r.keys))
	for i, k := range r.keys {
		parts[i] = fmt.Sprintf("%s (%s, %s)", k.kid, k.alg, k.status)
	}
	return "sealq.Keyring{" + strings.Join(parts, ", ") + "}"
}

// GoString is String.
func (r Keyring) GoString() string { return r.String() }

// Format prints String for every verb.
func (r Keyring) Format(f fmt.State, verb rune) { formatRedacted(f, verb, r.String()) }

// MarshalJSON writes public facts only: {"keys":[{kid, alg, status, ...}]}.
func (r Keyring) MarshalJSON() ([]byte, error) {
	infos := make([]keyInfo, len(r.keys))
	for i, k := range r.keys {
		infos[i] = k.info()
	}
	return json.Marshal(struct {
		Keys []keyInfo `json:"keys"`
	}{infos})
}
