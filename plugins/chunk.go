package plugins

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
)

// messageSlack leaves room for a chunk's framing next to its items.
const messageSlack = 64 << 10

// forEachChunk converts items to their proto form and hands them to emit in
// consecutive runs of about target encoded bytes, in order. emit is called
// at least once (with no items when there are none), so the first chunk can
// always carry the list's header. An item too big for one message of limit
// bytes is an error naming it.
func forEachChunk[T any, P proto.Message](items []T, conv func(T) P, target, limit int, emit func([]P) error) error {
	var (
		chunk []P
		size  int
	)
	for i, it := range items {
		p := conv(it)
		n := proto.Size(p)
		if n > limit-messageSlack {
			return fmt.Errorf("item %d is %.1f MiB encoded, over the %d MiB message limit: split it into smaller items",
				i, float64(n)/(1<<20), limit>>20)
		}
		if len(chunk) > 0 && size+n > target {
			if err := emit(chunk); err != nil {
				return err
			}
			chunk, size = nil, 0
		}
		chunk = append(chunk, p)
		size += n + 8 // tag and length prefix
	}
	if len(chunk) > 0 || len(items) == 0 {
		return emit(chunk)
	}
	return nil
}

// capHint bounds a preallocation taken from a peer's announced length.
func capHint(n int64) int {
	const most = 1 << 16
	switch {
	case n < 0:
		return 0
	case n > most:
		return most
	}
	return int(n)
}

// progressPump forwards Progress reports from a plugin's implementation to
// the host without slowing it down: reports are coalesced (the latest wins,
// done never goes back) and sent by one goroutine, since a gRPC stream must
// not be written from two goroutines at once.
type progressPump struct {
	send func(done, total int) error

	mu          sync.Mutex
	done, total int
	pending     bool
	closed      bool

	kick     chan struct{}
	stop     chan struct{}
	finished chan struct{}
}

func startProgressPump(send func(done, total int) error) *progressPump {
	p := &progressPump{
		send:     send,
		done:     -1,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	go p.run()
	return p
}

// report is the Progress handed to the implementation; safe from any
// goroutine, and a no-op once the call has returned.
func (p *progressPump) report(done, total int) {
	p.mu.Lock()
	if p.closed || done < p.done || (done == p.done && total == p.total) {
		p.mu.Unlock()
		return
	}
	p.done, p.total, p.pending = done, total, true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *progressPump) run() {
	defer close(p.finished)
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		p.mu.Lock()
		done, total, pending := p.done, p.total, p.pending
		p.pending = false
		p.mu.Unlock()
		if pending {
			if err := p.send(done, total); err != nil {
				return // the stream is gone; the call's own error will say why
			}
		}
	}
}

// close stops the pump, sends the last report if it is still pending, and
// returns once nothing else will write to the stream.
func (p *progressPump) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	close(p.stop)
	<-p.finished
	p.mu.Lock()
	done, total, pending := p.done, p.total, p.pending
	p.pending = false
	p.mu.Unlock()
	if pending {
		_ = p.send(done, total)
	}
}
