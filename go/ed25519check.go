package sealq

import "math/big"

// Ed25519 public keys are checked at import (SPEC-DECISIONS 9): the encoding must be canonical
// (y < p), decode to a curve point, and that point must not be of small order. crypto/ed25519
// checks none of this (and its Verify panics on a key of the wrong length, checked before).
// A small-order key would let anyone forge signatures that verify for it. Import-time only,
// so math/big is fast enough.

var (
	edP       = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	edD       = edConstD()
	edSqrtM1  = new(big.Int).Exp(big.NewInt(2), new(big.Int).Rsh(new(big.Int).Sub(edP, big.NewInt(1)), 2), edP)
	edExpSqrt = new(big.Int).Rsh(new(big.Int).Add(edP, big.NewInt(3)), 3) // (p+3)/8
	edExpChi  = new(big.Int).Rsh(new(big.Int).Sub(edP, big.NewInt(1)), 1) // (p-1)/2
)

func edConstD() *big.Int {
	// d = -121665 / 121666 mod p
	inv := new(big.Int).ModInverse(big.NewInt(121666), edP)
	d := new(big.Int).Mul(big.NewInt(-121665), inv)
	return d.Mod(d, edP)
}

type edPoint struct{ x, y *big.Int }

// edDecode decodes a 32-byte point encoding per RFC 8032 §5.1.3, requiring y < p.
func edDecode(b []byte) (edPoint, bool) {
	if len(b) != 32 {
		return edPoint{}, false
	}
	le := make([]byte, 32)
	for i := range le {
		le[i] = b[31-i]
	}
	sign := le[0] >> 7
	le[0] &= 0x7f
	y := new(big.Int).SetBytes(le)
	if y.Cmp(edP) >= 0 {
		return edPoint{}, false
	}
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, edP)
	v := new(big.Int).Mul(edD, y2)
	v.Add(v, big.NewInt(1)).Mod(v, edP)
	x2 := new(big.Int).Mul(u, new(big.Int).ModInverse(v, edP))
	x2.Mod(x2, edP)
	if x2.Sign() == 0 {
		if sign == 1 {
			return edPoint{}, false
		}
		return edPoint{new(big.Int), y}, true
	}
	if new(big.Int).Exp(x2, edExpChi, edP).Cmp(big.NewInt(1)) != 0 {
		return edPoint{}, false // not a square: no point with this y
	}
	x := new(big.Int).Exp(x2, edExpSqrt, edP)
	if new(big.Int).Mod(new(big.Int).Mul(x, x), edP).Cmp(x2) != 0 {
		x.Mul(x, edSqrtM1).Mod(x, edP)
	}
	if uint(x.Bit(0)) != uint(sign) {
		x.Sub(edP, x)
	}
	return edPoint{x, y}, true
}

// edAdd adds two points with the complete twisted Edwards formulas (a = -1).
func edAdd(a, b edPoint) edPoint {
	p := edP
	x1y2 := new(big.Int).Mul(a.x, b.y)
	y1x2 := new(big.Int).Mul(a.y, b.x)
	y1y2 := new(big.Int).Mul(a.y, b.y)
	x1x2 := new(big.Int).Mul(a.x, b.x)
	t := new(big.Int).Mul(edD, x1x2)
	t.Mul(t, y1y2).Mod(t, p)
	xn := new(big.Int).Add(x1y2, y1x2)
	xd := new(big.Int).Add(big.NewInt(1), t)
	yn := new(big.Int).Add(y1y2, x1x2)
	yd := new(big.Int).Sub(big.NewInt(1), t)
	yd.Mod(yd, p)
	x := xn.Mul(xn, new(big.Int).ModInverse(xd.Mod(xd, p), p))
	y := yn.Mul(yn, new(big.Int).ModInverse(yd, p))
	return edPoint{x.Mod(x, p), y.Mod(y, p)}
}

// ed25519PublicKeyOK reports whether x is the canonical encoding of a point not of small order.
func ed25519PublicKeyOK(x []byte) bool {
	pt, ok := edDecode(x)
	if !ok {
		return false
	}
	for i := 0; i < 3; i++ { // [8]P
		pt = edAdd(pt, pt)
	}
	return !(pt.x.Sign() == 0 && pt.y.Cmp(big.NewInt(1)) == 0)
}
