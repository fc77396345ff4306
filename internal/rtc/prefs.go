package rtc

import "strings"

// BrowserPrefs orders the audio codecs allowed toward browsers
// (webrtc.audio_codecs) so that those the SIP side also speaks come first,
// in the SIP side's order: passthrough when the operator allows it,
// transcoding only when the allowed list asks for it.
func BrowserPrefs(allowed, sipSide []string) []string {
	out := make([]string, 0, len(allowed))
	has := func(s string) bool {
		for _, o := range out {
			if strings.EqualFold(o, s) {
				return true
			}
		}
		return false
	}
	for _, t := range sipSide {
		for _, a := range allowed {
			if strings.EqualFold(a, t) && !has(a) {
				out = append(out, a)
			}
		}
	}
	for _, a := range allowed {
		if !has(a) {
			out = append(out, a)
		}
	}
	return out
}

// Only is a one-codec preference list, or none for "" (let the leg choose).
func Only(codec string) []string {
	if codec == "" {
		return nil
	}
	return []string{codec}
}
