package sipua

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/pion/srtp/v3"

	"github.com/split-hub/split/internal/sdp"
)

// SDES-SRTP (RFC 4568) toward trunks that ask for it: each side announces
// its own master key in a=crypto and encrypts with it; we decrypt with the
// far end's. Only AES_CM_128_HMAC_SHA1_80 — the suite every PBX supports.
const sdesSuite = "AES_CM_128_HMAC_SHA1_80"

var errNoCrypto = errors.New("sipua: SRTP required but no usable a=crypto")

func newLocalCrypto() (*sdp.Crypto, error) {
	k := make([]byte, 30) // 16-byte key + 14-byte salt
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return &sdp.Crypto{Tag: 1, Suite: sdesSuite, Key: base64.StdEncoding.EncodeToString(k)}, nil
}

func srtpContext(c sdp.Crypto) (*srtp.Context, error) {
	if c.Suite != sdesSuite {
		return nil, fmt.Errorf("sipua: crypto suite %q not supported", c.Suite)
	}
	k, err := base64.StdEncoding.DecodeString(c.Key)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(c.Key)
	}
	if err != nil || len(k) != 30 {
		return nil, errors.New("sipua: bad SDES key")
	}
	return srtp.CreateContext(k[:16], k[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
}

// pickCrypto returns the first offered line of the suite we support.
func pickCrypto(cs []sdp.Crypto) (sdp.Crypto, bool) {
	for _, c := range cs {
		if c.Suite == sdesSuite {
			return c, true
		}
	}
	return sdp.Crypto{}, false
}

// enableSRTP keys s with our crypto (outbound) and the far end's (inbound).
func (s *rtpStream) enableSRTP(remote sdp.Crypto) error {
	if s.localCrypto == nil {
		return errNoCrypto
	}
	in, err := srtpContext(remote)
	if err != nil {
		return err
	}
	out, err := srtpContext(*s.localCrypto)
	if err != nil {
		return err
	}
	outc, err := srtpContext(*s.localCrypto)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	s.srtpOut, s.srtcpOut = out, outc
	s.wmu.Unlock()
	s.srtpIn.Store(in)
	return nil
}
