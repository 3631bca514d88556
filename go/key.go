package sealq

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"hash"
	"math/big"
	"strconv"
	"time"
)

// Key statuses (SPEC §7.1).
const (
	StatusPrimary  = "primary"  // signs new messages and verifies
	StatusActive   = "active"   // verifies only
	StatusDisabled = "disabled" // verifies nothing; may be made active again
	StatusRevoked  = "revoked"  // verifies nothing, ever
)

// Key is one key of a keyring, read from a JWK. It is immutable. Its secret or private material
// never leaves it: String, GoString, Format (every fmt verb) and MarshalJSON show public facts
// only (kid, alg, status, validity, policy, whether it can sign).
type Key struct {
	kid       string
	alg       string
	status    string
	notBefore *int64
	notAfter  *int64
	ctxList   []string
	typList   []string
	hasPolicy bool
	stamps    map[string]int64 // every timestamp member present, ms (rotation bookkeeping included)
	ctxMatch  *matcher
	typMatch  *matcher
	*material
}

// material is the key material, behind a pointer: printing a Key value shows its address only,
// and material itself prints as [redacted] wherever a printer reaches it.
type material struct {
	secret  []byte // HMAC
	macPool *macPool
	edPub   ed25519.PublicKey
	edPriv  ed25519.PrivateKey
	ecPub   *ecdsa.PublicKey
	ecPriv  *ecdsa.PrivateKey
	rsaPub  *rsa.PublicKey
	rsaPriv *rsa.PrivateKey
}

func (material) String() string               { return "[redacted]" }
func (material) GoString() string             { return "[redacted]" }
func (material) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte("[redacted]")) }
func (material) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (material) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Kid returns the key id.
func (k *Key) Kid() string { return k.kid }

// Alg returns the key's algorithm: HS256, HS512, EdDSA, ES256 or PS256.
func (k *Key) Alg() string { return k.alg }

// Status returns primary, active, disabled or revoked.
func (k *Key) Status() string { return k.status }

// CanSign reports whether the key holds private (or secret) material.
func (k *Key) CanSign() bool {
	return k.material != nil && k.secret != nil || k.edPriv != nil || k.ecPriv != nil || k.rsaPriv != nil
}

// NotBefore returns the key's not_before, and whether it is set.
func (k *Key) NotBefore() (time.Time, bool) { return optTime(k.notBefore) }

// NotAfter returns the key's not_after, and whether it is set.
func (k *Key) NotAfter() (time.Time, bool) { return optTime(k.notAfter) }

// Policy returns copies of the key's policy lists; nil means the list is absent (anything allowed).
func (k *Key) Policy() (ctx, typ []string) {
	return append([]string(nil), k.ctxList...), append([]string(nil), k.typList...)
}

func optTime(ms *int64) (time.Time, bool) {
	if ms == nil {
		return time.Time{}, false
	}
	return time.UnixMilli(*ms), true
}

type keyInfo struct {
	Kid       string     `json:"kid"`
	Alg       string     `json:"alg"`
	Status    string     `json:"status"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	Policy    *struct {
		Ctx []string `json:"ctx,omitempty"`
		Typ []string `json:"typ,omitempty"`
	} `json:"policy,omitempty"`
	CanSign bool `json:"canSign"`
}

func (k *Key) info() keyInfo {
	i := keyInfo{Kid: k.kid, Alg: k.alg, Status: k.status, CanSign: k.CanSign()}
	if t, ok := k.NotBefore(); ok {
		i.NotBefore = &t
	}
	if t, ok := k.NotAfter(); ok {
		i.NotAfter = &t
	}
	if k.hasPolicy {
		i.Policy = &struct {
			Ctx []string `json:"ctx,omitempty"`
			Typ []string `json:"typ,omitempty"`
		}{toValidUTF8s(k.ctxList), toValidUTF8s(k.typList)}
	}
	return i
}

func toValidUTF8s(l []string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = toValidUTF8(s)
	}
	return out
}

// MarshalJSON writes public facts only, never material.
func (k Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.info()) }

// String describes the key without its material.
func (k Key) String() string {
	return fmt.Sprintf("sealq.Key{kid: %q, alg: %s, status: %s, material: [redacted]}", k.kid, k.alg, k.status)
}

// GoString is String, so %#v shows no material either.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb (%v, %+v, %#v, %s, %q, %x...), so no verb can reach the
// material through reflection.
func (k Key) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k.String()) }

func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}

// ---- algorithms (SPEC §6) ----------------------------------------------------------------------

// sigLen is the exact signature length of the key's algorithm.
func (k *Key) sigLen() int {
	switch k.alg {
	case "HS256":
		return 32
	case "PS256":
		return k.rsaPub.Size()
	}
	return 64
}

// cryptoHook, when set (by tests), runs at the start of every verification: a test uses it to
// show that malformed input is rejected before any cryptographic work.
var cryptoHook func()

// siBuffers holds signing-input buffers for Ed25519, which takes its message whole. A bounded free
// list rather than a sync.Pool, which every GC empties (and a hot path makes GCs frequent).
var siBuffers = make(chan []byte, 32)

// appendSigningInput writes "sealq/v1" SP len(H) SP H SP len(P) SP P (SPEC §4).
func appendSigningInput(dst, header, payload []byte) []byte {
	dst = append(dst, "sealq/v1 "...)
	dst = strconv.AppendInt(dst, int64(len(header)), 10)
	dst = append(dst, ' ')
	dst = append(dst, header...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ' ')
	return append(dst, payload...)
}

// writeSigningInput feeds the signing input to a hash without building it in memory.
// scratch holds the length prefixes (a stack buffer would escape through the hash.Hash interface).
func writeSigningInput(h hash.Hash, scratch *[48]byte, header, payload []byte) {
	pre := scratch[:]
	b := append(pre[:0], "sealq/v1 "...)
	b = strconv.AppendInt(b, int64(len(header)), 10)
	b = append(b, ' ')
	h.Write(b)
	h.Write(header)
	b = append(pre[:0], ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	h.Write(b)
	h.Write(payload)
}

// sigInput is what a signature covers: the framed signing input of (header, payload), or, for
// the primitive tests (Wycheproof), a raw message. Both run through the same primitives.
type sigInput struct {
	raw, header, payload []byte
	framed               bool
}

func framed(header, payload []byte) sigInput {
	return sigInput{header: header, payload: payload, framed: true}
}

func (in *sigInput) writeTo(h hash.Hash, scratch *[48]byte) {
	if !in.framed {
		h.Write(in.raw)
		return
	}
	writeSigningInput(h, scratch, in.header, in.payload)
}

// mac computes the HMAC of the input and appends it to out (through the pooled state's own
// buffer, so out never reaches the hash.Hash interface and can stay on the caller's stack).
func (k *Key) mac(in sigInput, out []byte) []byte {
	m := k.macPool.get()
	in.writeTo(m.h, &m.scratch)
	out = append(out, m.h.Sum(m.sum[:0])...)
	k.macPool.put(m)
	return out
}

// macEqual computes the HMAC of the input and compares it with tag in constant time.
func (k *Key) macEqual(in sigInput, tag []byte) bool {
	m := k.macPool.get()
	in.writeTo(m.h, &m.scratch)
	ok := hmac.Equal(m.h.Sum(m.sum[:0]), tag)
	k.macPool.put(m)
	return ok
}

func digest(in sigInput) []byte {
	h := sha256.New()
	var scratch [48]byte
	in.writeTo(h, &scratch)
	return h.Sum(nil)
}

// withMessage calls f with the whole input as one slice (Ed25519 takes the message whole),
// building the framed input in a pooled buffer.
func withMessage(in sigInput, f func([]byte)) {
	if !in.framed {
		f(in.raw)
		return
	}
	var buf []byte
	select {
	case buf = <-siBuffers:
	default:
		buf = make([]byte, 0, 4096)
	}
	si := appendSigningInput(buf[:0], in.header, in.payload)
	f(si)
	if cap(si) <= 1<<16 { // a buffer grown for a huge payload is left to the GC
		select {
		case siBuffers <- si[:0]:
		default:
		}
	}
}

// sign signs the signing input of (header, payload) with the key's own algorithm.
func (k *Key) sign(header, payload []byte) ([]byte, error) {
	return k.signInput(framed(header, payload))
}

func (k *Key) signInput(in sigInput) ([]byte, error) {
	switch k.alg {
	case "HS256", "HS512":
		return k.mac(in, nil), nil
	case "EdDSA":
		var sig []byte
		withMessage(in, func(m []byte) { sig = ed25519.Sign(k.edPriv, m) })
		return sig, nil
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, k.ecPriv, digest(in))
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case "PS256":
		// SignPSS pads to the modulus length (I2OSP), as SPEC §6 requires.
		return rsa.SignPSS(rand.Reader, k.rsaPriv, crypto.SHA256, digest(in), &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
	}
	return nil, fmt.Errorf("unknown algorithm")
}

// verify checks sig over the signing input of (header, payload) with the key's own algorithm.
func (k *Key) verify(header, payload, sig []byte) bool {
	return k.verifyInput(framed(header, payload), sig)
}

// verifyInput: the exact length comes first (it is public); HMAC tags are compared in constant time.
func (k *Key) verifyInput(in sigInput, sig []byte) bool {
	if cryptoHook != nil {
		cryptoHook()
	}
	if len(sig) != k.sigLen() {
		return false
	}
	switch k.alg {
	case "HS256", "HS512":
		return k.macEqual(in, sig)
	case "EdDSA":
		ok := false
		// edPub is exactly 32 bytes (checked at import): ed25519.Verify panics on another length.
		withMessage(in, func(m []byte) { ok = ed25519.Verify(k.edPub, m, sig) })
		return ok
	case "ES256":
		return verifyP1363(k.ecPub, digest(in), sig)
	case "PS256":
		return rsa.VerifyPSS(k.rsaPub, crypto.SHA256, digest(in), sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}) == nil
	}
	return false
}

// verifyP1363 verifies an ECDSA signature given as r || s (IEEE P1363), not ASN.1 DER.
func verifyP1363(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	n := (pub.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*n {
		return false
	}
	r := new(big.Int).SetBytes(sig[:n])
	s := new(big.Int).SetBytes(sig[n:])
	return ecdsa.Verify(pub, digest, r, s)
}

// macPool keeps HMAC instances of one key for reuse. crypto/hmac saves the keyed inner and outer
// states on an instance's first Reset, so a reused instance skips hashing the padded key twice
// per message. A bounded free list rather than a sync.Pool: a GC empties a sync.Pool, and a fresh
// instance costs more than it saves.
type macPool struct {
	free chan *macState
	make func() hash.Hash
}

// macState is one reusable HMAC instance with scratch space that outlives the call.
type macState struct {
	h       hash.Hash
	scratch [48]byte
	sum     [64]byte
}

func newMACPool(alg string, secret []byte) *macPool {
	h := sha256.New
	if alg == "HS512" {
		h = sha512.New
	}
	return &macPool{free: make(chan *macState, 32), make: func() hash.Hash { return hmac.New(h, secret) }}
}

func (p *macPool) get() *macState {
	select {
	case m := <-p.free:
		m.h.Reset()
		return m
	default:
		m := &macState{h: p.make()}
		m.h.Reset() // saves the keyed states (see above)
		return m
	}
}

func (p *macPool) put(m *macState) {
	select {
	case p.free <- m:
	default:
	}
}

// pairMatches checks that private and public members belong to one key (a corrupted or mixed-up
// JWK would otherwise sign messages nobody can verify).
func (k *Key) pairMatches() bool {
	switch {
	case k.alg == "EdDSA" && k.edPriv != nil:
		return subtle.ConstantTimeCompare(k.edPriv.Public().(ed25519.PublicKey), k.edPub) == 1
	case k.alg == "ES256" && k.ecPriv != nil:
		return k.ecPriv.X.Cmp(k.ecPub.X) == 0 && k.ecPriv.Y.Cmp(k.ecPub.Y) == 0
	case k.alg == "PS256" && k.rsaPriv != nil:
		return k.rsaPriv.N.Cmp(k.rsaPub.N) == 0 && k.rsaPriv.E == k.rsaPub.E
	}
	return true
}
