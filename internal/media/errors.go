package media

import "errors"

// Sentinel errors returned by this package. Callers compare with errors.Is.
var (
	// ErrShortBuffer means an output buffer is too small for the result.
	ErrShortBuffer = errors.New("media: output buffer too small")
	// ErrFrameSize means an input frame does not have the expected length.
	ErrFrameSize = errors.New("media: unexpected frame size")
	// ErrUnsupportedCodec means a codec or codec pair is not supported.
	ErrUnsupportedCodec = errors.New("media: unsupported codec")
	// ErrInvalidRTP means a packet is not a well-formed RTP version 2 packet.
	ErrInvalidRTP = errors.New("media: invalid RTP packet")
	// ErrInvalidDTMF means a telephone-event payload or digit is invalid.
	ErrInvalidDTMF = errors.New("media: invalid DTMF event")
	// ErrInvalidArgument means a constructor or helper got an out-of-range argument.
	ErrInvalidArgument = errors.New("media: invalid argument")
)
