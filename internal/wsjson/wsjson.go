// Package wsjson is the sending half of SPLIT's JSON-over-WebSocket
// protocols (docs/signalling.md, docs/sessions.md): a bounded queue drained
// by one writer goroutine, so that the goroutines that send — a call's, a
// session's — never wait for a slow browser. A browser that cannot keep up
// (the queue is full) is disconnected rather than allowed to stall the hub.
package wsjson

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/coder/websocket"
)

// WriteTimeout bounds one frame's write.
const WriteTimeout = 10 * time.Second

// Out queues frames for one socket.
type Out struct {
	conn *websocket.Conn
	q    chan []byte
	log  *slog.Logger
}

// NewOut returns a sender for conn with a queue of size frames.
func NewOut(conn *websocket.Conn, size int, log *slog.Logger) *Out {
	return &Out{conn: conn, q: make(chan []byte, size), log: log}
}

// Run writes queued frames until ctx ends (the socket is then closed
// normally) or a write fails (the socket is dropped). Its caller owns the
// goroutine.
func (o *Out) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			_ = o.conn.Close(websocket.StatusNormalClosure, "")
			return
		case b := <-o.q:
			wctx, cancel := context.WithTimeout(ctx, WriteTimeout)
			err := o.conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				_ = o.conn.CloseNow()
				return
			}
		}
	}
}

// Send queues v as a JSON text frame; it never blocks. A full queue drops
// the socket (and the frame).
func (o *Out) Send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		o.log.Error("wsjson: cannot encode frame", "err", err)
		return
	}
	select {
	case o.q <- b:
	default:
		o.log.Warn("send queue full; closing the socket")
		_ = o.conn.CloseNow()
	}
}
