package demo

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sync"
	"time"
)

// Outbox is the demo's mail server: it keeps the sign-in codes the server
// sends, so that the demo's voters can read their mail, and can also write
// every message to a file for a person trying the demo's server.
type Outbox struct {
	mu    sync.Mutex
	boxes map[string][]string // address → messages
	wake  chan struct{}
	w     io.Writer // every message, if set
}

func newOutbox(w io.Writer) *Outbox {
	return &Outbox{boxes: make(map[string][]string), wake: make(chan struct{}), w: w}
}

// Send implements server.Mailer.
func (o *Outbox) Send(ctx context.Context, to, subject, body string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.boxes[to] = append(o.boxes[to], body)
	close(o.wake)
	o.wake = make(chan struct{})
	if o.w != nil {
		fmt.Fprintf(o.w, "To: %s\nSubject: %s\n\n%s\n\n", to, subject, body)
	}
	return nil
}

// Count returns the number of letters sent to an address.
func (o *Outbox) Count(to string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.boxes[to])
}

var codeInLetter = regexp.MustCompile(`\b[0-9]{8}\b`)

// WaitCode waits for message n+1 of address to (n counted before asking)
// and returns the code in it.
func (o *Outbox) WaitCode(ctx context.Context, to string, n int) (string, error) {
	timeout := time.After(30 * time.Second)
	for {
		o.mu.Lock()
		box, wake := o.boxes[to], o.wake
		o.mu.Unlock()
		if len(box) > n {
			code := codeInLetter.FindString(box[len(box)-1])
			if code == "" {
				return "", fmt.Errorf("no code in the letter to %s", to)
			}
			return code, nil
		}
		select {
		case <-wake:
		case <-timeout:
			return "", fmt.Errorf("no sign-in code arrived for %s", to)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Letters returns the letters sent to an address, oldest first.
func (o *Outbox) Letters(to string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.boxes[to]...)
}
