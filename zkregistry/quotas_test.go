package zkregistry

import (
	"reflect"
	"testing"
)

// TestReadAllEntityConfigsListsQuotaEntities is AdminZkClient.fetchAllEntityConfigs and
// fetchAllChildEntityConfigs(users, clients) over Kafka's quota layout: sanitized names, <default>, a
// user znode that is only a parent (null data: empty config).
func TestReadAllEntityConfigsListsQuotaEntities(t *testing.T) {
	c := newClient(t)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	set := func(typ, entity string, cfg map[string]string) {
		t.Helper()
		if err := c.ChangeEntityConfig(typ, entity, cfg); err != nil {
			t.Fatal(err)
		}
	}
	set(ConfigUsers, DefaultEntity, map[string]string{"producer_byte_rate": "1024"})
	set(ConfigUsers, "alice/clients/app%201", map[string]string{"consumer_byte_rate": "2048"})
	set(ConfigUsers, "<default>/clients/<default>", map[string]string{"request_percentage": "50.0"})
	set(ConfigClients, "app", map[string]string{"producer_byte_rate": "10"})

	users, err := c.ReadAllEntityConfigs(ConfigUsers)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		DefaultEntity: {"producer_byte_rate": "1024"},
		"alice":       {}, // created as a parent with null data
	}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("users: %v, want %v", users, want)
	}
	both, err := c.ReadAllUserClientConfigs()
	if err != nil {
		t.Fatal(err)
	}
	wantBoth := map[string]map[string]string{
		"alice/clients/app%201":       {"consumer_byte_rate": "2048"},
		"<default>/clients/<default>": {"request_percentage": "50.0"},
	}
	if !reflect.DeepEqual(both, wantBoth) {
		t.Fatalf("user clients: %v, want %v", both, wantBoth)
	}
	clients, err := c.ReadAllEntityConfigs(ConfigClients)
	if err != nil || !reflect.DeepEqual(clients, map[string]map[string]string{"app": {"producer_byte_rate": "10"}}) {
		t.Fatalf("clients: %v, %v", clients, err)
	}
	ips, err := c.ReadAllEntityConfigs(ConfigIPs)
	if err != nil || len(ips) != 0 {
		t.Fatalf("ips: %v, %v", ips, err)
	}
}
