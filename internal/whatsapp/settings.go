package whatsapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/split-hub/split/internal/config"
)

// Settings is the body of GET/POST /{pnid}/settings (research §4.3).
type Settings struct {
	Calling *CallingSettings `json:"calling,omitempty"`
}

// CallingSettings is settings.calling.
type CallingSettings struct {
	Status                   string      `json:"status,omitempty"` // ENABLED | DISABLED
	CallIconVisibility       string      `json:"call_icon_visibility,omitempty"`
	CallbackPermissionStatus string      `json:"callback_permission_status,omitempty"`
	CallHours                *CallHours  `json:"call_hours,omitempty"`
	SIP                      *SIPSetting `json:"sip,omitempty"`
	SRTPKeyExchangeProtocol  string      `json:"srtp_key_exchange_protocol,omitempty"` // DTLS | SDES
	Audio                    *Audio      `json:"audio,omitempty"`
	// Restrictions is what GET reports of quality enforcement (never sent).
	Restrictions *Restrictions `json:"restrictions,omitempty"`
}

// CallHours is calling.call_hours.
type CallHours struct {
	Status               string     `json:"status"` // ENABLED | DISABLED
	TimezoneID           string     `json:"timezone_id,omitempty"`
	WeeklyOperatingHours []DayHours `json:"weekly_operating_hours,omitempty"`
	HolidaySchedule      []Holiday  `json:"holiday_schedule,omitempty"`
}

// DayHours is one opening range: day MONDAY…SUNDAY, times HHMM.
type DayHours struct {
	DayOfWeek string `json:"day_of_week"`
	OpenTime  string `json:"open_time"`
	CloseTime string `json:"close_time"`
}

// Holiday is one holiday_schedule entry (date YYYY-MM-DD, times HHMM).
type Holiday struct {
	Date      string `json:"date"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
}

// SIPSetting is calling.sip.
type SIPSetting struct {
	Status          string      `json:"status"` // ENABLED | DISABLED
	Servers         []SIPServer `json:"servers"`
	WebhookDelivery string      `json:"webhook_delivery,omitempty"`
}

// SIPServer is one calling.sip.servers entry. SIPUserPassword comes only
// from GET ?include_sip_credentials=true and is redacted by String.
type SIPServer struct {
	AppID                string            `json:"app_id,omitempty"`
	Hostname             string            `json:"hostname"`
	Port                 int               `json:"port,omitempty"`
	RequestURIUserParams map[string]string `json:"request_uri_user_params,omitempty"`
	SIPUserPassword      string            `json:"sip_user_password,omitempty"`
}

// Audio is calling.audio.
type Audio struct {
	AdditionalCodecs []string `json:"additional_codecs,omitempty"`
}

// Restrictions is calling.restrictions (GET only).
type Restrictions struct {
	RestrictionsList []Restriction `json:"restrictions_list,omitempty"`
}

// Restriction is one quality-enforcement restriction.
type Restriction struct {
	Type       string `json:"type"`
	Reason     string `json:"reason,omitempty"`
	Expiration int64  `json:"expiration,omitempty"`
}

// Desired is the calling settings the configuration implies for number n:
// status ENABLED (DISABLED with calling: false), callback permission as
// configured, call hours derived from the routes of n's entry point, and
// the SIP server with signalling: sip (SIP DISABLED with graph).
//
// Call hours mirror how the hub matches routes: the number is open when
// some route of its entry point (entry n.Entry or any) matches, whatever
// its context or language conditions; a route without days and hours
// makes it always open (call_hours DISABLED). A route's hours apply on
// each of its days ("22:00-06:00" on mon is mon 00:00-06:00 and
// 22:00-24:00, as the hub reads it); 24:00 is sent as 2359. It fails when
// the routes' hours cannot be expressed as Meta's call hours: routes with
// hours in different (or no) time zones, more than two ranges a day, or no
// route at all for the entry point.
func Desired(cfg *config.Config, n config.WhatsAppNumber) (Settings, error) {
	if n.Entry == "" {
		n.Entry = config.DefaultWhatsAppEntry
	}
	cs := &CallingSettings{Status: "DISABLED", CallbackPermissionStatus: "DISABLED"}
	if n.CallingEnabled() {
		cs.Status = "ENABLED"
	}
	if n.CallbackPermissionEnabled() {
		cs.CallbackPermissionStatus = "ENABLED"
	}
	hours, err := callHours(cfg.Sessions.Routes, n.Entry)
	if err != nil {
		return Settings{}, err
	}
	cs.CallHours = hours
	if n.Signalling == config.WhatsAppSignallingSIP && n.SIP != nil {
		port := n.SIP.Port
		if port == 0 {
			port = 5061
		}
		cs.SIP = &SIPSetting{Status: "ENABLED", Servers: []SIPServer{{Hostname: n.SIP.Hostname, Port: port}}}
		cs.SRTPKeyExchangeProtocol = "DTLS"
		if strings.EqualFold(n.SIP.SRTP, "sdes") {
			cs.SRTPKeyExchangeProtocol = "SDES"
		}
	} else {
		cs.SIP = &SIPSetting{Status: "DISABLED", Servers: []SIPServer{}}
	}
	return Settings{Calling: cs}, nil
}

var dayNames = [7]string{"SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"}

type span struct{ from, to int } // minutes, [from, to)

// callHours derives call_hours from the routes of entry.
func callHours(routes []config.Route, entry string) (*CallHours, error) {
	var days [7][]span
	tz, found := "", false
	for i, r := range routes {
		if r.Entry != "" && r.Entry != entry {
			continue
		}
		found = true
		if len(r.Days) == 0 && r.Hours == "" {
			return &CallHours{Status: "DISABLED"}, nil // always open
		}
		if r.TimeZone == "" {
			return nil, fmt.Errorf("sessions.routes[%d] (%s) has days or hours but no time_zone: Meta's call hours need one", i, r.Name)
		}
		if tz != "" && tz != r.TimeZone {
			return nil, fmt.Errorf("the routes of entry point %q use time zones %s and %s: Meta's call hours have one", entry, tz, r.TimeZone)
		}
		tz = r.TimeZone
		spans := []span{{0, 1440}}
		if r.Hours != "" {
			from, to, err := config.ParseHours(r.Hours)
			if err != nil {
				return nil, fmt.Errorf("sessions.routes[%d].hours: %w", i, err)
			}
			switch {
			case from < to:
				spans = []span{{from, to}}
			case from > to: // the hub reads it as before to or after from, on the same day
				spans = []span{{0, to}, {from, 1440}}
			default:
				spans = nil // never matches
			}
		}
		var ds []time.Weekday
		if len(r.Days) == 0 {
			ds = []time.Weekday{0, 1, 2, 3, 4, 5, 6}
		}
		for _, d := range r.Days {
			wd, ok := config.Weekday(d)
			if !ok {
				return nil, fmt.Errorf("sessions.routes[%d].days: %q is not mon..sun", i, d)
			}
			ds = append(ds, wd)
		}
		for _, wd := range ds {
			for _, sp := range spans {
				if sp.to > sp.from {
					days[wd] = append(days[wd], sp)
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("no route serves entry point %q: every call would be refused (add a route with entry: %s)", entry, entry)
	}
	ch := &CallHours{Status: "ENABLED", TimezoneID: tz}
	allDay := true
	for _, wd := range []time.Weekday{1, 2, 3, 4, 5, 6, 0} { // Meta's examples start on Monday
		merged := mergeSpans(days[wd])
		if len(merged) != 1 || merged[0] != (span{0, 1440}) {
			allDay = false
		}
		if len(merged) > 2 {
			return nil, fmt.Errorf("the routes of entry point %q open %d times on %s: Meta's call hours allow two ranges a day",
				entry, len(merged), strings.ToLower(dayNames[wd]))
		}
		for _, sp := range merged {
			ch.WeeklyOperatingHours = append(ch.WeeklyOperatingHours,
				DayHours{DayOfWeek: dayNames[wd], OpenTime: hhmm(sp.from), CloseTime: hhmm(sp.to)})
		}
	}
	if allDay {
		return &CallHours{Status: "DISABLED"}, nil
	}
	return ch, nil
}

func mergeSpans(in []span) []span {
	if len(in) == 0 {
		return nil
	}
	s := append([]span(nil), in...)
	sort.Slice(s, func(i, j int) bool { return s[i].from < s[j].from })
	out := []span{s[0]}
	for _, sp := range s[1:] {
		last := &out[len(out)-1]
		if sp.from <= last.to {
			last.to = max(last.to, sp.to)
			continue
		}
		out = append(out, sp)
	}
	return out
}

func hhmm(m int) string {
	if m >= 1440 {
		return "2359"
	}
	return fmt.Sprintf("%02d%02d", m/60, m%60)
}

// Diff lists the differences between what Meta has and what is wanted, one
// line per field ("calling.status: DISABLED → ENABLED"); nil when equal.
// Fields want leaves empty are not compared; Meta leaving out sip or
// srtp_key_exchange_protocol reads as DISABLED and DTLS, its defaults.
func Diff(have, want Settings) []string {
	w := want.Calling
	if w == nil {
		return nil
	}
	h := have.Calling
	if h == nil {
		h = &CallingSettings{}
	}
	var out []string
	cmp := func(key, a, b string) {
		if b != "" && !strings.EqualFold(a, b) {
			out = append(out, fmt.Sprintf("%s: %s → %s", key, orNone(a), b))
		}
	}
	cmp("calling.status", h.Status, w.Status)
	cmp("calling.call_icon_visibility", h.CallIconVisibility, w.CallIconVisibility)
	cmp("calling.callback_permission_status", h.CallbackPermissionStatus, w.CallbackPermissionStatus)
	if w.CallHours != nil {
		hh := h.CallHours
		if hh == nil {
			hh = &CallHours{Status: "DISABLED"}
		}
		cmp("calling.call_hours.status", hh.Status, w.CallHours.Status)
		if strings.EqualFold(w.CallHours.Status, "ENABLED") {
			cmp("calling.call_hours.timezone_id", hh.TimezoneID, w.CallHours.TimezoneID)
			if a, b := weekly(hh.WeeklyOperatingHours), weekly(w.CallHours.WeeklyOperatingHours); a != b {
				out = append(out, fmt.Sprintf("calling.call_hours.weekly_operating_hours: %s → %s", orNone(a), orNone(b)))
			}
		}
	}
	if w.SIP != nil {
		hs := h.SIP
		if hs == nil {
			hs = &SIPSetting{Status: "DISABLED"}
		}
		cmp("calling.sip.status", hs.Status, w.SIP.Status)
		if strings.EqualFold(w.SIP.Status, "ENABLED") {
			if a, b := servers(hs.Servers), servers(w.SIP.Servers); a != b {
				out = append(out, fmt.Sprintf("calling.sip.servers: %s → %s", orNone(a), orNone(b)))
			}
		}
	}
	if w.SRTPKeyExchangeProtocol != "" {
		cmp("calling.srtp_key_exchange_protocol", orDefault(h.SRTPKeyExchangeProtocol, "DTLS"), w.SRTPKeyExchangeProtocol)
	}
	return out
}

func orNone(s string) string { return orDefault(s, "(none)") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func weekly(hs []DayHours) string {
	var parts []string
	for _, d := range hs {
		parts = append(parts, strings.ToUpper(d.DayOfWeek)[:min(3, len(d.DayOfWeek))]+" "+d.OpenTime+"-"+d.CloseTime)
	}
	return strings.Join(parts, ", ")
}

func servers(ss []SIPServer) string {
	var parts []string
	for _, s := range ss {
		port := s.Port
		if port == 0 {
			port = 5061
		}
		parts = append(parts, fmt.Sprintf("%s:%d", strings.ToLower(s.Hostname), port))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Redacted returns a copy of s with SIP passwords replaced by [redacted].
func (s Settings) Redacted() Settings {
	if s.Calling == nil || s.Calling.SIP == nil {
		return s
	}
	c, sip := *s.Calling, *s.Calling.SIP
	sip.Servers = append([]SIPServer(nil), sip.Servers...)
	for i := range sip.Servers {
		if sip.Servers[i].SIPUserPassword != "" {
			sip.Servers[i].SIPUserPassword = "[redacted]"
		}
	}
	c.SIP = &sip
	return Settings{Calling: &c}
}

// String redacts the password.
func (s SIPServer) String() string {
	pw := ""
	if s.SIPUserPassword != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("SIPServer{AppID:%q Hostname:%q Port:%d Params:%v Password:%q}", s.AppID, s.Hostname, s.Port, s.RequestURIUserParams, pw)
}

// GoString redacts the password in %#v.
func (s SIPServer) GoString() string { return s.String() }

// GetSettings reads the number's settings (withSIPCredentials: with Meta's
// generated SIP password, which String and Redacted hide).
func (c *Client) GetSettings(ctx context.Context, withSIPCredentials bool) (Settings, error) {
	var q url.Values
	if withSIPCredentials {
		q = url.Values{"include_sip_credentials": {"true"}}
	}
	var s Settings
	if err := c.do(ctx, http.MethodGet, "settings", q, nil, &s); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// PostSettings replaces the number's calling settings with s (what GET
// reports of restrictions is never sent).
func (c *Client) PostSettings(ctx context.Context, s Settings) error {
	if s.Calling == nil {
		return invalidf("no calling settings to post")
	}
	cs := *s.Calling
	cs.Restrictions = nil
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, http.MethodPost, "settings", nil, Settings{Calling: &cs}, &out); err != nil {
		return err
	}
	if !out.Success {
		return &GraphError{HTTPStatus: http.StatusOK, Message: "Meta did not confirm the settings (no \"success\": true)"}
	}
	return nil
}
