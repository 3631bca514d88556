package sealq

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"math/big"
	"strconv"
)

// JWK import (SPEC §7.1 with SPEC-DECISIONS 6, 7 and 9). Error messages name the kid and the
// member, never a member's value.

func keyErr(kid, what string) *Error {
	who := "(no kid)"
	if kid != "" {
		who = strconv.Quote(kid)
	}
	return &Error{Code: CodeInvalidKey, Message: "key " + who + ": " + what}
}

var jwkMembers = map[string]bool{
	// registered JWK members (RFC 7517, 7518, 8037)
	"kty": true, "use": true, "key_ops": true, "alg": true, "kid": true, "x5u": true, "x5c": true,
	"x5t": true, "x5t#S256": true, "crv": true, "x": true, "y": true, "d": true, "n": true, "e": true,
	"p": true, "q": true, "dp": true, "dq": true, "qi": true, "oth": true, "k": true, "ext": true,
	// sealq members
	"status": true, "not_before": true, "not_after": true, "policy": true, "added_at": true,
	"promoted_at": true, "demoted_at": true, "retired_at": true, "revoked_at": true,
}

var defaultAlg = map[string]string{"oct": "HS256", "OKP": "EdDSA", "EC": "ES256", "RSA": "PS256"}
var algKty = map[string]string{"HS256": "oct", "HS512": "oct", "EdDSA": "OKP", "ES256": "EC", "PS256": "RSA"}

// ParseKey reads one JWK (JSON text) as sealq stores it. Errors are ERR_INVALID_KEY.
func ParseKey(jwk []byte) (*Key, error) {
	v, err := parseJSONText(jwk)
	if err != nil {
		return nil, keyErr("", "the JWK is "+err.Error())
	}
	k, kerr := importJWK(v)
	if kerr != nil {
		return nil, kerr
	}
	return k, nil
}

func kidOK(s string) bool { return idOK(s) } // 1 to 128 characters, each 0x21-0x7E

func importJWK(v *jvalue) (*Key, *Error) {
	if v.kind != jObj {
		return nil, keyErr("", "a JWK must be a JSON object")
	}
	kv := v.get("kid")
	if kv == nil || kv.kind != jStr || !kidOK(kv.str) {
		return nil, keyErr("", "kid must be 1 to 128 printable ASCII characters without spaces")
	}
	kid := kv.str
	for _, m := range v.obj {
		if !jwkMembers[m.name] {
			return nil, keyErr(kid, "unknown member "+quote(toValidUTF8(m.name))+"; sealq refuses members it does not know")
		}
	}
	str := func(name string) (string, bool, *Error) {
		m := v.get(name)
		if m == nil {
			return "", false, nil
		}
		if m.kind != jStr {
			return "", false, keyErr(kid, name+" must be a string")
		}
		return m.str, true, nil
	}
	kty, hasKty, err := str("kty")
	if err != nil {
		return nil, err
	}
	alg, hasAlg, err := str("alg")
	if err != nil {
		return nil, err
	}
	if !hasAlg {
		alg = defaultAlg[kty]
	}
	if algKty[alg] == "" {
		return nil, keyErr(kid, "alg "+quote(toValidUTF8(alg))+" is not supported; use one of HS256, HS512, EdDSA, ES256, PS256")
	}
	if !hasKty || kty != algKty[alg] {
		return nil, keyErr(kid, "kty must be "+strconv.Quote(algKty[alg])+" for alg "+alg)
	}
	crv, _, err := str("crv")
	if err != nil {
		return nil, err
	}
	if want := map[string]string{"EdDSA": "Ed25519", "ES256": "P-256"}[alg]; want != "" && crv != want {
		return nil, keyErr(kid, "crv must be "+strconv.Quote(want)+" for "+alg)
	}
	if use := v.get("use"); use != nil && (use.kind != jStr || use.str != "sig") {
		return nil, keyErr(kid, `use must be "sig" (sealq keys only sign)`)
	}
	status, hasStatus, err := str("status")
	if err != nil {
		return nil, keyErr(kid, "status must be one of primary, active, disabled, revoked")
	}
	if !hasStatus {
		status = StatusActive
	}
	switch status {
	case StatusPrimary, StatusActive, StatusDisabled, StatusRevoked:
	default:
		return nil, keyErr(kid, "status must be one of primary, active, disabled, revoked")
	}
	k := &Key{kid: kid, alg: alg, status: status, material: &material{}}
	for _, name := range [...]string{"not_before", "not_after", "added_at", "promoted_at", "demoted_at", "retired_at", "revoked_at"} {
		m := v.get(name)
		if m == nil {
			continue
		}
		ms, ok := int64(0), false
		if m.kind == jStr {
			ms, ok = parseTimestamp(m.str)
		}
		if !ok {
			return nil, keyErr(kid, name+" must be an RFC 3339 timestamp with a zone, like 2026-01-31T00:00:00Z")
		}
		if k.stamps == nil {
			k.stamps = map[string]int64{}
		}
		k.stamps[name] = ms
		switch name {
		case "not_before":
			k.notBefore = &ms
		case "not_after":
			k.notAfter = &ms
		}
	}
	if k.notBefore != nil && k.notAfter != nil && *k.notAfter < *k.notBefore {
		return nil, keyErr(kid, "not_after is before not_before")
	}
	if perr := k.readPolicy(v.get("policy")); perr != nil {
		return nil, perr
	}
	if merr := k.readMaterial(v); merr != nil {
		return nil, merr
	}
	return k, nil
}

func (k *Key) readPolicy(p *jvalue) *Error {
	if p == nil {
		return nil
	}
	const shape = `policy must be an object like {"ctx":["billing.*"],"typ":["*"]}`
	if p.kind != jObj {
		return keyErr(k.kid, shape)
	}
	k.hasPolicy = true
	for _, m := range p.obj {
		if m.name != "ctx" && m.name != "typ" {
			return keyErr(k.kid, "policy member "+quote(toValidUTF8(m.name))+" is not known; a policy has ctx and typ lists")
		}
		if m.val.kind != jArr || len(m.val.arr) == 0 {
			return keyErr(k.kid, "policy."+m.name+" must be a non-empty list of names or * patterns")
		}
		list := make([]string, 0, len(m.val.arr))
		for _, e := range m.val.arr {
			if e.kind != jStr || e.str == "" {
				return keyErr(k.kid, "policy."+m.name+" must be a list of non-empty names or * patterns")
			}
			list = append(list, e.str)
		}
		if m.name == "ctx" {
			k.ctxList, k.ctxMatch = list, compileMatcher(list)
		} else {
			k.typList, k.typMatch = list, compileMatcher(list)
		}
	}
	return nil
}

// material decodes a key member: strict base64url, non-empty. ok is false when it is absent.
func materialMember(v *jvalue, kid, name string) ([]byte, bool, *Error) {
	m := v.get(name)
	if m == nil {
		return nil, false, nil
	}
	if m.kind != jStr || m.str == "" {
		return nil, false, keyErr(kid, name+" must be a base64url string")
	}
	b, ok := b64Decode(m.str)
	if !ok {
		return nil, false, keyErr(kid, name+" must be canonical base64url (no padding)")
	}
	return b, true, nil
}

func (k *Key) readMaterial(v *jvalue) *Error {
	get := func(name string) ([]byte, bool, *Error) { return materialMember(v, k.kid, name) }
	foreign := func(names ...string) *Error {
		for _, n := range names {
			if v.get(n) != nil {
				return keyErr(k.kid, "member "+n+" does not belong to a "+algKty[k.alg]+" key")
			}
		}
		return nil
	}
	switch k.alg {
	case "HS256", "HS512":
		secret, ok, err := get("k")
		if err != nil {
			return err
		}
		if !ok {
			return keyErr(k.kid, "k must be the base64url secret")
		}
		min := 32
		if k.alg == "HS512" {
			min = 64
		}
		if len(secret) < min {
			return keyErr(k.kid, "an "+k.alg+" secret must be at least "+strconv.Itoa(min)+" bytes")
		}
		k.secret = secret
		k.macPool = newMACPool(k.alg, secret)
	case "EdDSA":
		if err := foreign("k", "p", "q", "dp", "dq", "qi", "n", "e", "y"); err != nil {
			return err
		}
		x, ok, err := get("x")
		if err != nil {
			return err
		}
		// ed25519.Verify panics on a key of another length: the length is checked here, once.
		if !ok || len(x) != ed25519.PublicKeySize || !ed25519PublicKeyOK(x) {
			return keyErr(k.kid, "x must be a valid Ed25519 public key (32 bytes, a canonical point that is not of small order)")
		}
		k.edPub = ed25519.PublicKey(x)
		d, ok, err := get("d")
		if err != nil {
			return err
		}
		if ok {
			if len(d) != ed25519.SeedSize {
				return keyErr(k.kid, "d must be a 32-byte Ed25519 private key")
			}
			k.edPriv = ed25519.NewKeyFromSeed(d)
		}
	case "ES256":
		if err := foreign("k", "p", "q", "dp", "dq", "qi", "n", "e"); err != nil {
			return err
		}
		x, okx, err := get("x")
		if err != nil {
			return err
		}
		y, oky, err := get("y")
		if err != nil {
			return err
		}
		if !okx || !oky || len(x) != 32 || len(y) != 32 {
			return keyErr(k.kid, "x and y must be 32-byte P-256 coordinates")
		}
		point := append(append([]byte{4}, x...), y...)
		if _, perr := ecdh.P256().NewPublicKey(point); perr != nil {
			return keyErr(k.kid, "x and y are not a point on P-256")
		}
		k.ecPub = &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		d, ok, err := get("d")
		if err != nil {
			return err
		}
		if ok {
			priv, perr := ecdh.P256().NewPrivateKey(d)
			if len(d) != 32 || perr != nil {
				return keyErr(k.kid, "d must be a 32-byte P-256 private key")
			}
			pub := priv.PublicKey().Bytes()
			k.ecPriv = &ecdsa.PrivateKey{
				PublicKey: ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(pub[1:33]), Y: new(big.Int).SetBytes(pub[33:])},
				D:         new(big.Int).SetBytes(d),
			}
		}
	case "PS256":
		if err := foreign("k", "x", "y", "crv"); err != nil {
			return err
		}
		n, okn, err := get("n")
		if err != nil {
			return err
		}
		e, oke, err := get("e")
		if err != nil {
			return err
		}
		if !okn || !oke {
			return keyErr(k.kid, "n and e are required for an RSA key")
		}
		// RFC 7518 §6.3.1: the minimum number of octets, so one key has one text.
		if len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 {
			return keyErr(k.kid, "n and e of an RSA key must have no leading zero bytes")
		}
		N := new(big.Int).SetBytes(n)
		E := new(big.Int).SetBytes(e)
		if bits := N.BitLen(); bits < 2048 || bits > 4096 {
			return keyErr(k.kid, "RSA modulus must be 2048 to 4096 bits, got "+strconv.Itoa(bits))
		}
		if N.Bit(0) == 0 || E.Bit(0) == 0 || E.Cmp(big.NewInt(3)) < 0 || E.BitLen() > 31 {
			return keyErr(k.kid, "the RSA key material is invalid (the modulus and exponent must be odd, 3 <= e < 2^31)")
		}
		k.rsaPub = &rsa.PublicKey{N: N, E: int(E.Int64())}
		names := [...]string{"d", "p", "q", "dp", "dq", "qi"}
		var parts [len(names)]*big.Int
		have := 0
		for i, name := range names {
			b, ok, err := get(name)
			if err != nil {
				return err
			}
			if ok {
				parts[i] = new(big.Int).SetBytes(b)
				have++
			}
		}
		if have == 0 {
			break
		}
		if have != len(names) {
			return keyErr(k.kid, "an RSA private key needs all of d, p, q, dp, dq, qi")
		}
		priv := &rsa.PrivateKey{PublicKey: *k.rsaPub, D: parts[0], Primes: []*big.Int{parts[1], parts[2]}}
		if priv.Validate() != nil {
			return keyErr(k.kid, "the RSA private members do not form a valid key")
		}
		priv.Precompute()
		if priv.Precomputed.Dp.Cmp(parts[3]) != 0 || priv.Precomputed.Dq.Cmp(parts[4]) != 0 || priv.Precomputed.Qinv.Cmp(parts[5]) != 0 {
			return keyErr(k.kid, "dp, dq and qi do not belong to the RSA key (corrupted or mixed-up JWK)")
		}
		k.rsaPriv = priv
	}
	if !k.pairMatches() {
		return keyErr(k.kid, "the private and public members do not belong to the same key (corrupted or mixed-up JWK)")
	}
	return nil
}
