package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
)

// Errors of verification; the DAS refuses with them as the reason.
var (
	// ErrUnknownKey marks a command signed by a key id the verifier does not hold.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrBadSignature marks a signature that does not verify.
	ErrBadSignature = errors.New("bad signature")
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// PrivateKey is a signing key with its id. It never prints or marshals its secret.
type PrivateKey struct {
	id  string
	key ed25519.PrivateKey
}

// GenerateKey returns a new key with id keyID (letters, digits, '.', '_' and '-').
func GenerateKey(keyID string) (*PrivateKey, error) {
	if !keyIDPattern.MatchString(keyID) {
		return nil, fmt.Errorf("wire: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", keyID)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("wire: generate key: %w", err)
	}
	return &PrivateKey{id: keyID, key: k}, nil
}

// ID returns the key id.
func (k *PrivateKey) ID() string { return k.id }

// Public returns the public half.
func (k *PrivateKey) Public() PublicKey {
	return PublicKey{ID: k.id, Key: k.key.Public().(ed25519.PublicKey)}
}

// String is "REDACTED" with the key id: a private key never reaches a log.
func (k *PrivateKey) String() string { return "REDACTED(" + k.id + ")" }

// GoString is String.
func (k *PrivateKey) GoString() string { return k.String() }

// MarshalJSON writes the redacted form.
func (k *PrivateKey) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// Sign sets c's key id and signature. Safe for concurrent use.
func (k *PrivateKey) Sign(c *Command) {
	c.KeyID = k.id
	c.Signature = ed25519.Sign(k.key, c.SignedBytes(nil))
}

// keyFile is the key file's JSON: the seed in base64.
type keyFile struct {
	KeyID string `json:"key_id"`
	Seed  string `json:"ed25519_seed"`
}

// WriteKeyFile writes k to a new file at path, mode 0600; it refuses to overwrite.
func WriteKeyFile(path string, k *PrivateKey) error {
	b, err := json.Marshal(keyFile{KeyID: k.id, Seed: base64.StdEncoding.EncodeToString(k.key.Seed())})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("wire: key file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("wire: key file %s: %w", path, err)
	}
	return f.Close()
}

// ReadKeyFile reads a key file written by WriteKeyFile. It refuses a file that others
// than its owner may read. Errors name the file, never its content.
func ReadKeyFile(path string) (*PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wire: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wire: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("wire: key file %s has mode %v: want it readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("wire: key file %s: %w", path, err)
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("wire: key file %s is not a key file (JSON with key_id and ed25519_seed)", path)
	}
	seed, err := base64.StdEncoding.DecodeString(kf.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("wire: key file %s: ed25519_seed is not %d bytes in base64", path, ed25519.SeedSize)
	}
	if !keyIDPattern.MatchString(kf.KeyID) {
		return nil, fmt.Errorf("wire: key file %s: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", path, kf.KeyID)
	}
	return &PrivateKey{id: kf.KeyID, key: ed25519.NewKeyFromSeed(seed)}, nil
}

// PublicKey is a verification key with its id.
type PublicKey struct {
	// ID is the key id.
	ID string `json:"key_id"`
	// Key is the Ed25519 public key (base64 in JSON).
	Key ed25519.PublicKey `json:"public_key"`
}

// ParsePublicKey parses a key id and a public key in base64.
func ParsePublicKey(id, b64 string) (PublicKey, error) {
	if !keyIDPattern.MatchString(id) {
		return PublicKey{}, fmt.Errorf("wire: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("wire: public key %s is not %d bytes in base64", id, ed25519.PublicKeySize)
	}
	return PublicKey{ID: id, Key: b}, nil
}

// String returns the key id and the key in base64.
func (p PublicKey) String() string { return p.ID + " " + base64.StdEncoding.EncodeToString(p.Key) }

// Keyring is the public keys a verifier accepts, by id. A DAS holds the old and the new
// key during a rotation. Read-only after construction: safe for concurrent use.
type Keyring map[string]ed25519.PublicKey

// NewKeyring returns a keyring of keys.
func NewKeyring(keys ...PublicKey) Keyring {
	r := Keyring{}
	for _, k := range keys {
		r[k.ID] = k.Key
	}
	return r
}

// Verify checks c's signature; the error wraps ErrUnknownKey or ErrBadSignature.
func (r Keyring) Verify(c *Command) error {
	pub, ok := r[c.KeyID]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownKey, c.KeyID)
	}
	if !ed25519.Verify(pub, c.SignedBytes(nil), c.Signature) {
		return ErrBadSignature
	}
	return nil
}

// NewNonce returns 16 random bytes in hex.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("wire: nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
