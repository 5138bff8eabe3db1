package config

import (
	"strings"
	"testing"
)

// Kafka's ApiVersion.apply: full names, release short names (latest IV), and patch releases.
func TestParseProtocolVersion(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ProtocolVersion
		wantErr string
	}{
		{in: "2.8-IV1", want: V2_8_IV1},
		{in: "2.8-IV0", want: V2_8_IV0},
		{in: "2.8", want: V2_8_IV1},
		{in: "2.8.1", want: V2_8_IV1},
		{in: "2.7", want: V2_7_IV2},
		{in: "2.0", want: V2_0_IV1},
		{in: "1.0", want: V1_0_IV0},
		{in: "0.11.0", want: V0_11_0_IV2},
		{in: "0.11.0.3", want: V0_11_0_IV2},
		{in: " 2.5-IV0 ", want: V2_5_IV0},
		{in: "0.10.2", wantErr: "predates message format v2"},
		{in: "0.10.2-IV0", wantErr: "predates"},
		{in: "3.0", wantErr: "not a Kafka version"},
		{in: "2.8-IV2", wantErr: "not a Kafka version"},
		{in: "", wantErr: "not a Kafka version"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseProtocolVersion(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if V2_8_IV1.ShortVersion() != "2.8" || V0_11_0_IV1.ShortVersion() != "0.11.0" || !(V2_7_IV2 < V2_8_IV0) {
		t.Fatal("ordering or short names")
	}
}

func TestInterBrokerProtocolVersionRange(t *testing.T) {
	if c := mustParse(t, "inter.broker.protocol.version: \"2.7\"\n"); c.InterBrokerProtocol() != V2_7_IV2 {
		t.Fatal(c.InterBrokerProtocol())
	}
	_, err := Parse([]byte(minimalYAML+"inter.broker.protocol.version: \"1.1\"\n"), "b.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "2.0-IV0 to 2.8-IV1") {
		t.Fatal(err)
	}
}
