package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultHTTPTimeout = 30 * time.Second
	maxResponseBody    = 1 << 20
	userAgent          = "split-notify/1"
)

func defaultClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: defaultHTTPTimeout}
}

// doHTTP sends req and returns the status, headers and (bounded) body. A
// transport failure becomes a retryable *ProviderError, unless ctx ended, in
// which case ctx's error is returned.
func doHTTP(ctx context.Context, c *http.Client, ch Channel, req *http.Request) (int, http.Header, []byte, error) {
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("notify: %s: %w", ch, ctx.Err())
		}
		return 0, nil, nil, &ProviderError{Channel: ch, Message: "transport: " + transportText(err), Retryable: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, fmt.Errorf("notify: %s: %w", ch, ctx.Err())
		}
		return 0, nil, nil, &ProviderError{Channel: ch, HTTPStatus: resp.StatusCode, Message: "reading the response: " + err.Error(), Retryable: true}
	}
	return resp.StatusCode, resp.Header, body, nil
}

// transportText describes a transport error without the request URL.
func transportText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}

// RetryAfter parses a Retry-After header given in seconds or as an HTTP
// date (0: none, or in the past).
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryableHTTP is the HTTP-level rule shared by the HTTP providers.
func retryableHTTP(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

const redacted = "[redacted]"

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redacted
}
