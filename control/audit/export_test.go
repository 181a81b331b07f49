package audit

// SetVerifyChunk makes Verify read n numbers of seq per query until the returned function
// is called.
func SetVerifyChunk(n uint64) (restore func()) {
	old := verifyChunk
	verifyChunk = n
	return func() { verifyChunk = old }
}
