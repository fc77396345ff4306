package e2e

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestKamailioTmpDirectBye(t *testing.T) {
	sip.SIPDebug = true
	defer func() { sip.SIPDebug = false }()
	k := startKamailio(t)
	_ = k
	h := startHub(t, kamTrunk(kamPass, false))
	pbx := startSipp(t, "-sf", "sipp/uas_echo.xml", "-i", "127.0.0.1", "-p", "15090", "-mi", "127.0.0.1",
		"-mp", fmt.Sprint(pbxMedia), "-rtp_echo", "-m", "1")
	time.Sleep(300 * time.Millisecond)
	br := startBrowser(t, map[string]any{"url": h.pageURL("alice"), "mode": "call", "to": "1000", "video": false,
		"talkMs": 3000, "hangup": "local"})
	br.wait(t, 40*time.Second)
	out, _ := exec.Command("ss", "-uanp").CombinedOutput()
	t.Logf("ss:\n%s", out)
	pbx.wait(t, 15*time.Second)
	t.Error("dump")
}
