package persona

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"golang.org/x/crypto/bcrypt"
)

// DevSeedSecret is the development default of PERSONA_SEED_SECRET; production refuses it.
const DevSeedSecret = "dev-persona-seed-secret-rotate-in-prod"

// DerivePassword computes a persona's password from the seed secret and its email, bit-exact with
// SPEC §2: HMAC-SHA256(secret, email) → padded standard base64 → keep [A-Za-z0-9] → first 32.
func DerivePassword(secret, email string) (string, error) {
	if secret == "" {
		return "", errors.New("derive password: empty seed secret")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(email))
	enc := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	out := make([]byte, 0, 32)
	for i := 0; i < len(enc) && len(out) < 32; i++ {
		c := enc[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			out = append(out, c)
		}
	}
	return string(out), nil
}

// DefaultPasswordCost is the bcrypt cost of stored passwords unless a store is opened with
// another (tests use bcrypt.MinCost to stay quick).
const DefaultPasswordCost = bcrypt.DefaultCost

// HashPassword returns a salted bcrypt hash of password at cost (0 means DefaultPasswordCost).
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultPasswordCost
	}
	if len(password) > 72 {
		return "", &FieldError{Field: "password", Message: "must be at most 72 bytes"}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash. bcrypt compares in constant time.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
