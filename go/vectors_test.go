package sealq

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The conformance vectors of vectors/envelope-v1.json, the same file the TypeScript suite reads.

type vectorFile struct {
	TestKeys map[string]json.RawMessage `json:"test_keys"`
	Vectors  []vector                   `json:"vectors"`
}

type vector struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Reproducible bool            `json:"reproducible"`
	Keyring      json.RawMessage `json:"keyring"`
	Carrier      string          `json:"carrier"`  // compact, object, object-json or detached
	Envelope     json.RawMessage `json:"envelope"` // as the carrier says
	Options      map[string]json.RawMessage
	Expected     struct {
		Error         string         `json:"error"`
		PayloadB64url *string        `json:"payload_b64url"`
		Header        map[string]any `json:"header"`
		ValidUntil    *int64         `json:"valid_until"`
	} `json:"expected"`
}

var vectorsCache struct {
	sync.Mutex
	f *vectorFile
}

// loadVectors reads the vector file once per test binary.
func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	vectorsCache.Lock()
	defer vectorsCache.Unlock()
	if vectorsCache.f != nil {
		return vectorsCache.f
	}
	b, err := os.ReadFile(filepath.Join("..", "vectors", "envelope-v1.json"))
	if err != nil {
		t.Fatalf("reading the vectors: %v", err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("parsing the vectors: %v", err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	vectorsCache.f = &f
	return &f
}

var durationText = regexp.MustCompile(`^(\d{1,12})(ms|s|m|h|d)$`)

// vectorDuration reads a duration option: ms as a number, or a duration string like "30s".
func vectorDuration(t *testing.T, raw json.RawMessage) time.Duration {
	var ms int64
	if err := json.Unmarshal(raw, &ms); err == nil {
		return time.Duration(ms) * time.Millisecond
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("duration option %s", raw)
	}
	m := durationText.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("duration option %q", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit
}

func stringOrList(t *testing.T, raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("ctx/typ option %s", raw)
	}
	return l
}

func vectorOptions(t *testing.T, v *vector) OpenOptions {
	var o OpenOptions
	for name, raw := range v.Options {
		switch name {
		case "ctx":
			o.Ctx = stringOrList(t, raw)
		case "typ":
			o.Typ = stringOrList(t, raw)
		case "now":
			var ms int64
			if err := json.Unmarshal(raw, &ms); err != nil {
				t.Fatalf("now %s", raw)
			}
			o.Now = time.UnixMilli(ms)
		case "maxAge":
			if o.MaxAge = vectorDuration(t, raw); o.MaxAge == 0 {
				t.Fatal("maxAge 0 has no OpenOptions form")
			}
		case "clockSkew":
			if o.ClockSkew = vectorDuration(t, raw); o.ClockSkew == 0 {
				o.ClockSkew = NoClockSkew
			}
		case "maxValidity":
			if o.MaxValidity = vectorDuration(t, raw); o.MaxValidity == 0 {
				t.Fatal("maxValidity 0 has no OpenOptions form")
			}
		case "maxPayloadBytes":
			if err := json.Unmarshal(raw, &o.MaxPayloadBytes); err != nil {
				t.Fatalf("maxPayloadBytes %s", raw)
			}
		default:
			t.Fatalf("unknown vector option %q: teach the Go vector runner", name)
		}
	}
	return o
}

func headerMap(h *Header) map[string]any {
	m := map[string]any{"kid": h.Kid, "alg": h.Alg, "id": h.ID, "iat": float64(h.Iat), "ctx": h.Ctx}
	if h.Nbf != nil {
		m["nbf"] = float64(*h.Nbf)
	}
	if h.Exp != nil {
		m["exp"] = float64(*h.Exp)
	}
	if h.Typ != "" {
		m["typ"] = h.Typ
	}
	if h.Ct != "" {
		m["ct"] = h.Ct
	}
	return m
}

// checkResult compares one outcome with the vector's expectation.
func checkResult(t *testing.T, v *vector, carrier string, m *Opened, err error) {
	t.Helper()
	if v.Expected.Error != "" {
		if err == nil {
			t.Errorf("%s (%s): accepted, want %s", v.Name, carrier, v.Expected.Error)
			return
		}
		if got := CodeOf(err); got != v.Expected.Error {
			t.Errorf("%s (%s): got %v, want %s", v.Name, carrier, err, v.Expected.Error)
		}
		return
	}
	if err != nil {
		t.Errorf("%s (%s): rejected: %v", v.Name, carrier, err)
		return
	}
	want, ok := b64Decode(*v.Expected.PayloadB64url)
	if !ok {
		t.Fatalf("%s: bad payload_b64url", v.Name)
	}
	if !bytes.Equal(m.Payload, want) {
		t.Errorf("%s (%s): payload differs", v.Name, carrier)
	}
	if got := headerMap(&m.Header); !reflect.DeepEqual(got, v.Expected.Header) {
		t.Errorf("%s (%s): header %v, want %v", v.Name, carrier, got, v.Expected.Header)
	}
	if v.Expected.ValidUntil != nil && m.ValidUntil.UnixMilli() != *v.Expected.ValidUntil {
		t.Errorf("%s (%s): valid_until %d, want %d", v.Name, carrier, m.ValidUntil.UnixMilli(), *v.Expected.ValidUntil)
	}
}

func TestVectors(t *testing.T) {
	f := loadVectors(t)
	counts := map[string]int{}
	for i := range f.Vectors {
		v := &f.Vectors[i]
		k, err := ParseKeyring(v.Keyring)
		if err != nil {
			t.Errorf("%s: keyring refused: %v", v.Name, err)
			continue
		}
		o := vectorOptions(t, v)
		switch v.Carrier {
		case "compact":
			var compact string
			if err := json.Unmarshal(v.Envelope, &compact); err != nil {
				t.Fatalf("%s: envelope %v", v.Name, err)
			}
			m, err := Open(k, compact, o)
			checkResult(t, v, "compact", m, err)
			m, err = OpenBytes(k, []byte(compact), o)
			checkResult(t, v, "bytes", m, err)
			if v.Expected.Error == "" {
				// The same bytes in the other carriers give the same result.
				seal, body, err := ToDetached(Compact(compact), o.MaxPayloadBytes)
				if err != nil {
					t.Errorf("%s: ToDetached: %v", v.Name, err)
				} else {
					m, err = OpenDetached(k, seal, body, o)
					checkResult(t, v, "detached (converted)", m, err)
				}
				if obj, err := ToObject(Compact(compact), o.MaxPayloadBytes); err == nil {
					m, err = OpenObject(k, obj, o)
					checkResult(t, v, "object (converted)", m, err)
				}
			}
		case "object", "object-json":
			// object: the object exactly as written in the file, escapes and all; object-json: a
			// string holding the text.
			text := []byte(v.Envelope)
			if v.Carrier == "object-json" {
				var s string
				if err := json.Unmarshal(v.Envelope, &s); err != nil {
					t.Fatalf("%s: envelope %v", v.Name, err)
				}
				text = []byte(s)
			}
			m, err := OpenObject(k, text, o)
			checkResult(t, v, v.Carrier, m, err)
			if v.Expected.Error == "" {
				c, err := ToCompact(Object(text), o.MaxPayloadBytes)
				if err != nil {
					t.Errorf("%s: ToCompact: %v", v.Name, err)
				} else {
					m, err = Open(k, c, o)
					checkResult(t, v, "compact (converted)", m, err)
				}
			}
		case "detached":
			var d struct {
				Seal string `json:"seal"`
				Body string `json:"payload_b64url"`
			}
			if err := json.Unmarshal(v.Envelope, &d); err != nil {
				t.Fatalf("%s: envelope %v", v.Name, err)
			}
			body, ok := b64Decode(d.Body)
			if !ok {
				t.Fatalf("%s: body", v.Name)
			}
			m, err := OpenDetached(k, d.Seal, body, o)
			checkResult(t, v, "detached", m, err)
			if v.Expected.Error == "" {
				c, err := ToCompact(Detached(d.Seal, body), o.MaxPayloadBytes)
				if err != nil {
					t.Errorf("%s: ToCompact: %v", v.Name, err)
				} else {
					m, err = Open(k, c, o)
					checkResult(t, v, "compact (converted)", m, err)
				}
			}
		default:
			t.Errorf("%s: carrier %q unknown to this runner", v.Name, v.Carrier)
		}
		counts[v.Carrier]++
	}
	t.Logf("%d vectors: %d compact (each also as bytes), %d object, %d object-json, %d detached", len(f.Vectors), counts["compact"], counts["object"], counts["object-json"], counts["detached"])
}
