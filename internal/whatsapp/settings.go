package whatsapp

import (
	"context"
	"errors"

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
// configured, call hours derived from the routes of n's entry point (their
// days, hours and time zone; always open → call_hours DISABLED), and the
// SIP server with signalling: sip. It fails when the routes' hours cannot
// be expressed as Meta's call hours (several time zones, more than two
// ranges a day).
func Desired(cfg *config.Config, n config.WhatsAppNumber) (Settings, error) {
	return Settings{}, errors.New("todo")
}

// Diff lists the differences between what Meta has and what is wanted, one
// line per field ("calling.status: DISABLED → ENABLED"); nil when equal.
// Fields want leaves empty are not compared.
func Diff(have, want Settings) []string { return nil }

// GetSettings reads the number's settings (withSIPCredentials: with Meta's
// generated SIP password).
func (c *Client) GetSettings(ctx context.Context, withSIPCredentials bool) (Settings, error) {
	return Settings{}, errors.New("todo")
}

// PostSettings replaces the number's calling settings.
func (c *Client) PostSettings(ctx context.Context, s Settings) error { return errors.New("todo") }
