package sealq

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
)

// Message ids are 128 random bits, base64url (22 characters). They are drawn from a pooled
// buffer, one call into the CSPRNG per 256 ids.
var idPool struct {
	sync.Mutex
	buf  [16 * 256]byte
	next int
}

func randomID() string {
	var b [16]byte
	idPool.Lock()
	if idPool.next == 0 {
		if _, err := rand.Read(idPool.buf[:]); err != nil {
			idPool.Unlock()
			panic("sealq: the system's random source failed: " + err.Error())
		}
	}
	copy(b[:], idPool.buf[idPool.next:])
	clear(idPool.buf[idPool.next : idPool.next+16]) // an id drawn is not kept around
	idPool.next = (idPool.next + 16) % len(idPool.buf)
	idPool.Unlock()
	return base64.RawURLEncoding.EncodeToString(b[:])
}
