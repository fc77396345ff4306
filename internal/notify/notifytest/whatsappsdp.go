package notifytest

import (
	"fmt"
	"strings"
)

// checkCallSDP validates an SDP sent to the Calling API in session.sdp the
// way research whatsapp.md §5 and §9.2 describe Meta's validation (Meta's
// exact rules are not published; this is the documented subset):
//
//   - RFC 8866 text starting with "v=0", every line ending in CRLF (an
//     LF-only line is refused: Meta's parser fails on it);
//   - exactly one m-line, and it is audio over UDP/TLS/RTP/SAVPF (DTLS
//     mode, the Graph default);
//   - a=fingerprint:sha-256 (session or media level) and no fingerprint of
//     another hash (Meta accepts only sha-256), a=ice-ufrag, a=ice-pwd,
//     a=setup, a=rtcp-mux;
//   - Opus (opus/48000/2) among the m-line's formats, or — only when g711
//     is true (settings audio.additional_codecs) — PCMU/PCMA instead.
//
// It returns "" when the SDP passes, else the error_data.details text.
func checkCallSDP(sdp string, g711 bool) string {
	if sdp == "" {
		return "session.sdp is required"
	}
	if !strings.HasPrefix(sdp, "v=0\r\n") {
		if strings.HasPrefix(sdp, "v=0\n") {
			return "SDP validation error: lines must end with CRLF (\\r\\n), found LF only at line 1"
		}
		return "SDP validation error: the SDP must start with v=0"
	}
	if !strings.HasSuffix(sdp, "\r\n") {
		return "SDP validation error: the last line must end with CRLF"
	}
	lines := strings.Split(strings.TrimSuffix(sdp, "\r\n"), "\r\n")
	var (
		mlines                           int
		formats                          []string
		fpSHA256, ufrag, pwd, setup, mux bool
		rtpmap                           = map[string]string{} // pt → lower-case encoding name/clock[/ch]
	)
	for i, l := range lines {
		if strings.ContainsRune(l, '\n') {
			return fmt.Sprintf("SDP validation error: lines must end with CRLF (\\r\\n), found LF only after line %d", i+1)
		}
		if strings.ContainsRune(l, '\r') {
			return fmt.Sprintf("SDP validation error: stray CR in line %d", i+1)
		}
		if len(l) < 2 || l[1] != '=' || l[0] < 'a' || l[0] > 'z' {
			return fmt.Sprintf("SDP validation error: line %d is not <type>=<value>", i+1)
		}
		v := l[2:]
		switch l[0] {
		case 'm':
			mlines++
			f := strings.Fields(v)
			if len(f) < 4 {
				return fmt.Sprintf("SDP validation error: malformed m-line %q", l)
			}
			if f[0] != "audio" {
				return "SDP validation error: only one audio m-line is supported, found m=" + f[0]
			}
			if f[2] != "UDP/TLS/RTP/SAVPF" {
				return "SDP validation error: DTLS mode needs protocol UDP/TLS/RTP/SAVPF, found " + f[2]
			}
			formats = f[3:]
		case 'a':
			key, val, _ := strings.Cut(v, ":")
			switch key {
			case "fingerprint":
				alg, _, _ := strings.Cut(val, " ")
				if !strings.EqualFold(alg, "sha-256") {
					return "SDP validation error: only sha-256 fingerprints are supported, found " + alg
				}
				fpSHA256 = true
			case "ice-ufrag":
				ufrag = val != ""
			case "ice-pwd":
				pwd = val != ""
			case "setup":
				switch val {
				case "actpass", "active", "passive":
					setup = true
				default:
					return "SDP validation error: bad a=setup:" + val
				}
			case "rtcp-mux":
				mux = true
			case "rtpmap":
				pt, enc, ok := strings.Cut(val, " ")
				if !ok || pt == "" || enc == "" {
					return fmt.Sprintf("SDP validation error: malformed rtpmap %q", l)
				}
				rtpmap[pt] = strings.ToLower(enc)
			}
		}
	}
	switch {
	case mlines == 0:
		return "SDP validation error: no m-line"
	case mlines > 1:
		return fmt.Sprintf("SDP validation error: exactly one audio m-line is supported, found %d", mlines)
	case !fpSHA256:
		return "SDP validation error: a=fingerprint:sha-256 is required in DTLS mode"
	case !ufrag || !pwd:
		return "SDP validation error: a=ice-ufrag and a=ice-pwd are required"
	case !setup:
		return "SDP validation error: a=setup is required"
	case !mux:
		return "SDP validation error: a=rtcp-mux is required"
	}
	opus, pcm := false, false
	for _, pt := range formats {
		switch rtpmap[pt] {
		case "opus/48000/2":
			opus = true
		case "pcmu/8000", "pcma/8000", "pcmu/8000/1", "pcma/8000/1":
			pcm = true
		case "":
			if pt == "0" || pt == "8" { // static payload types
				pcm = true
			}
		}
	}
	if !opus && !(g711 && pcm) {
		if pcm {
			return "SDP validation error: Opus (opus/48000/2) is required; PCMA/PCMU only when enabled in calling settings (audio.additional_codecs)"
		}
		return "SDP validation error: Opus (opus/48000/2) is required"
	}
	return ""
}
