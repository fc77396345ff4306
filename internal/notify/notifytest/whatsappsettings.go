package notifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"time"
	_ "time/tzdata" // call_hours.timezone_id is checked without the host's zoneinfo
)

// FakeAppID is the app id the fake reports on SIP servers (the app of the
// access token).
const FakeAppID = "123456789012345"

// callingSettings is the calling object of POST/GET /{pnid}/settings
// (research whatsapp.md §4.3, §6.1).
type callingSettings struct {
	Status                   string          `json:"status,omitempty"`
	CallIconVisibility       string          `json:"call_icon_visibility,omitempty"`
	CallIcons                json.RawMessage `json:"call_icons,omitempty"`
	CallbackPermissionStatus string          `json:"callback_permission_status,omitempty"`
	CallHours                *callHours      `json:"call_hours,omitempty"`
	SIP                      *sipSettings    `json:"sip,omitempty"`
	SRTPKeyExchangeProtocol  string          `json:"srtp_key_exchange_protocol,omitempty"`
	Audio                    *struct {
		AdditionalCodecs []string `json:"additional_codecs"`
	} `json:"audio,omitempty"`
	Voicemail json.RawMessage `json:"voicemail,omitempty"`
}

type callHours struct {
	Status               string `json:"status"`
	TimezoneID           string `json:"timezone_id,omitempty"`
	WeeklyOperatingHours []struct {
		DayOfWeek string `json:"day_of_week"`
		OpenTime  string `json:"open_time"`
		CloseTime string `json:"close_time"`
	} `json:"weekly_operating_hours,omitempty"`
	HolidaySchedule []struct {
		Date      string `json:"date"`
		StartTime string `json:"start_time"`
		EndTime   string `json:"end_time"`
	} `json:"holiday_schedule,omitempty"`
}

type sipSettings struct {
	Status          string      `json:"status"`
	Servers         []sipServer `json:"servers"`
	WebhookDelivery string      `json:"webhook_delivery,omitempty"`
}

type sipServer struct {
	AppID                string            `json:"app_id,omitempty"`
	Hostname             string            `json:"hostname"`
	Port                 int               `json:"port,omitempty"`
	RequestURIUserParams map[string]string `json:"request_uri_user_params,omitempty"`
	SIPUserPassword      string            `json:"sip_user_password,omitempty"`
}

// SettingsPost is one POST /settings the fake received.
type SettingsPost struct {
	Body      []byte
	ErrorCode int // 0: accepted
	Details   string
}

func (cs *callState) sipMode() bool {
	return cs.settings.SIP != nil && cs.settings.SIP.Status == "ENABLED"
}

func (cs *callState) g711() bool {
	return cs.settings.Audio != nil && len(cs.settings.Audio.AdditionalCodecs) > 0
}

// SettingsPosts returns the POST /settings requests, in order.
func (f *WhatsAppFake) SettingsPosts() []SettingsPost {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	return append([]SettingsPost(nil), f.calls.posts...)
}

// CallingSettings returns the calling settings as GET
// /settings?include_sip_credentials=true would.
func (f *WhatsAppFake) CallingSettings() json.RawMessage {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	b, _ := json.Marshal(f.calls.view(true))
	return b
}

// SIPPassword is the Meta-generated SIP digest password for hostname (""
// when no such server is configured).
func (f *WhatsAppFake) SIPPassword(hostname string) string {
	f.calls.mu.Lock()
	defer f.calls.mu.Unlock()
	return f.calls.sipPass[hostname]
}

// SetSIPMode switches the number to SIP signalling (as a POST of
// calling.sip.status ENABLED would, with server hostname:5061) or back to
// Graph signalling. In SIP mode /calls answers 131055.
func (f *WhatsAppFake) SetSIPMode(on bool, hostname string) {
	cs := f.calls
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if !on {
		if cs.settings.SIP != nil {
			cs.settings.SIP.Status = "DISABLED"
		}
		return
	}
	cs.settings.SIP = &sipSettings{Status: "ENABLED", Servers: []sipServer{{Hostname: hostname, Port: 5061}}}
	if cs.sipPass[hostname] == "" {
		cs.sipPass[hostname] = randHex(16)
	}
}

// view is the settings as GET returns them.
func (cs *callState) view(creds bool) map[string]any {
	s := cs.settings
	if s.SIP != nil {
		sip := *s.SIP
		sip.Servers = nil
		for _, srv := range s.SIP.Servers {
			srv.AppID = FakeAppID
			if creds {
				srv.SIPUserPassword = cs.sipPass[srv.Hostname]
			}
			sip.Servers = append(sip.Servers, srv)
		}
		s.SIP = &sip
	}
	return map[string]any{"calling": s}
}

func (f *WhatsAppFake) getSettings(w http.ResponseWriter, creds bool) {
	f.calls.mu.Lock()
	v := f.calls.view(creds)
	f.calls.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *WhatsAppFake) postSettings(w http.ResponseWriter, raw []byte) {
	var body struct {
		Calling *callingSettings `json:"calling"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	details := ""
	if err := dec.Decode(&body); err != nil {
		details = "Invalid parameter: " + err.Error()
	} else if body.Calling == nil {
		details = "The parameter calling is required."
	} else {
		details = checkSettings(body.Calling)
	}
	cs := f.calls
	cs.mu.Lock()
	cs.posts = append(cs.posts, SettingsPost{Body: raw, Details: details})
	if details != "" {
		cs.posts[len(cs.posts)-1].ErrorCode = 100
		cs.mu.Unlock()
		f.graphErr(w, *callErr(100, details))
		return
	}
	cs.merge(body.Calling)
	cs.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]bool{"success": true})
}

// merge applies a validated POST: each object given replaces the stored
// one (call_hours as a whole; omitting holiday_schedule deletes it).
func (cs *callState) merge(n *callingSettings) {
	s := &cs.settings
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.Status, n.Status)
	set(&s.CallIconVisibility, n.CallIconVisibility)
	set(&s.CallbackPermissionStatus, n.CallbackPermissionStatus)
	set(&s.SRTPKeyExchangeProtocol, n.SRTPKeyExchangeProtocol)
	if n.CallIcons != nil {
		s.CallIcons = n.CallIcons
	}
	if n.CallHours != nil {
		s.CallHours = n.CallHours
	}
	if n.Audio != nil {
		s.Audio = n.Audio
	}
	if n.Voicemail != nil {
		s.Voicemail = n.Voicemail
	}
	if n.SIP != nil {
		sip := *n.SIP
		if sip.Status == "DISABLED" && len(sip.Servers) == 0 {
			cs.sipPass = map[string]string{} // the documented way to reset the password
		}
		for i := range sip.Servers {
			if sip.Servers[i].Port == 0 {
				sip.Servers[i].Port = 5061
			}
			if h := sip.Servers[i].Hostname; cs.sipPass[h] == "" {
				cs.sipPass[h] = randHex(16)
			}
		}
		s.SIP = &sip
	}
}

var (
	hhmm      = regexp.MustCompile(`^([01]\d|2[0-3])[0-5]\d$`)
	isoDate   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	hostnameR = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	weekdays  = map[string]int{"MONDAY": 0, "TUESDAY": 1, "WEDNESDAY": 2, "THURSDAY": 3, "FRIDAY": 4, "SATURDAY": 5, "SUNDAY": 6}
)

func oneOf(v string, allowed ...string) bool {
	if v == "" {
		return true
	}
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// checkSettings validates a POSTed calling object; "" when valid.
func checkSettings(s *callingSettings) string {
	switch {
	case !oneOf(s.Status, "ENABLED", "DISABLED"):
		return "calling.status must be ENABLED or DISABLED"
	case !oneOf(s.CallIconVisibility, "DEFAULT", "DISABLE_ALL", "HIDE_IN_CHAT"):
		return "calling.call_icon_visibility must be DEFAULT, DISABLE_ALL or HIDE_IN_CHAT"
	case !oneOf(s.CallbackPermissionStatus, "ENABLED", "DISABLED"):
		return "calling.callback_permission_status must be ENABLED or DISABLED"
	case !oneOf(s.SRTPKeyExchangeProtocol, "DTLS", "SDES"):
		return "calling.srtp_key_exchange_protocol must be DTLS or SDES"
	}
	if s.Audio != nil {
		for _, c := range s.Audio.AdditionalCodecs {
			if c != "PCMA" && c != "PCMU" {
				return "calling.audio.additional_codecs may hold PCMA and PCMU, not " + c
			}
		}
	}
	if d := checkCallHours(s.CallHours); d != "" {
		return d
	}
	if sip := s.SIP; sip != nil {
		if sip.Status != "ENABLED" && sip.Status != "DISABLED" {
			return "calling.sip.status must be ENABLED or DISABLED"
		}
		if !oneOf(sip.WebhookDelivery, "ENABLED", "DISABLED") {
			return "calling.sip.webhook_delivery must be ENABLED or DISABLED"
		}
		if sip.Status == "ENABLED" && len(sip.Servers) == 0 {
			return "calling.sip.servers is required when sip.status is ENABLED"
		}
		for _, srv := range sip.Servers {
			switch {
			case srv.AppID != "" || srv.SIPUserPassword != "":
				return "calling.sip.servers: app_id and sip_user_password are read-only"
			case !hostnameR.MatchString(srv.Hostname) || len(srv.Hostname) > 253:
				return fmt.Sprintf("calling.sip.servers: %q is not a hostname", srv.Hostname)
			case srv.Port < 0 || srv.Port > 65535:
				return fmt.Sprintf("calling.sip.servers: port %d", srv.Port)
			}
			for k, v := range srv.RequestURIUserParams {
				if k == "" || runes(v) > 128 {
					return "calling.sip.servers: request_uri_user_params values are at most 128 characters"
				}
			}
		}
	}
	return ""
}

// checkCallHours validates call_hours: HHMM times, open before close, at
// most two non-overlapping ranges a day, at most 20 holidays.
func checkCallHours(h *callHours) string {
	if h == nil {
		return ""
	}
	if h.Status != "ENABLED" && h.Status != "DISABLED" {
		return "call_hours.status must be ENABLED or DISABLED"
	}
	if h.Status == "ENABLED" {
		if h.TimezoneID == "" {
			return "call_hours.timezone_id is required"
		}
		if len(h.WeeklyOperatingHours) == 0 {
			return "call_hours.weekly_operating_hours is required"
		}
	}
	if h.TimezoneID != "" {
		if _, err := time.LoadLocation(h.TimezoneID); err != nil {
			return "call_hours.timezone_id is not a known time zone: " + h.TimezoneID
		}
	}
	type span struct{ open, close string }
	days := map[int][]span{}
	for _, r := range h.WeeklyOperatingHours {
		d, ok := weekdays[r.DayOfWeek]
		switch {
		case !ok:
			return "call_hours.weekly_operating_hours: day_of_week " + r.DayOfWeek
		case !hhmm.MatchString(r.OpenTime) || !hhmm.MatchString(r.CloseTime):
			return "call_hours.weekly_operating_hours: open_time and close_time are HHMM (0000-2359)"
		case r.OpenTime >= r.CloseTime:
			return "call_hours.weekly_operating_hours: open_time must be before close_time on " + r.DayOfWeek
		}
		days[d] = append(days[d], span{r.OpenTime, r.CloseTime})
	}
	for d, spans := range days {
		if len(spans) > 2 {
			return fmt.Sprintf("call_hours.weekly_operating_hours: at most 2 ranges a day (%d on day %d)", len(spans), d)
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].open < spans[j].open })
		for i := 1; i < len(spans); i++ {
			if spans[i].open < spans[i-1].close {
				return "call_hours.weekly_operating_hours: overlapping ranges"
			}
		}
	}
	if len(h.HolidaySchedule) > 20 {
		return "call_hours.holiday_schedule: at most 20 entries"
	}
	for _, hd := range h.HolidaySchedule {
		if _, err := time.Parse("2006-01-02", hd.Date); err != nil || !isoDate.MatchString(hd.Date) {
			return "call_hours.holiday_schedule: date is YYYY-MM-DD"
		}
		if !hhmm.MatchString(hd.StartTime) || !hhmm.MatchString(hd.EndTime) || hd.StartTime >= hd.EndTime {
			return "call_hours.holiday_schedule: start_time before end_time, HHMM"
		}
	}
	return ""
}
