package zkregistry

import (
	"errors"

	"github.com/go-zookeeper/zk"
)

// ReadAllEntityConfigs reads the config of every /config/<entityType>/<entity>
// (AdminZkClient.fetchAllEntityConfigs), keyed by the sanitized entity name. An
// entity deleted while listing is left out.
func (c *Client) ReadAllEntityConfigs(entityType string) (map[string]map[string]string, error) {
	names, err := c.Children(ConfigEntityTypePath(entityType))
	if errors.Is(err, zk.ErrNoNode) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]string, len(names))
	for _, name := range names {
		if err := c.readEntityConfigInto(out, entityType, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadAllUserClientConfigs reads every /config/users/<user>/clients/<client-id>
// (AdminZkClient.fetchAllChildEntityConfigs(users, clients)), keyed by
// "<user>/clients/<client-id>" in sanitized form.
func (c *Client) ReadAllUserClientConfigs() (map[string]map[string]string, error) {
	users, err := c.Children(ConfigEntityTypePath(ConfigUsers))
	if errors.Is(err, zk.ErrNoNode) {
		return map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]string)
	for _, u := range users {
		clients, err := c.Children(ConfigEntityPath(ConfigUsers, u) + "/" + ConfigClients)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, cl := range clients {
			if err := c.readEntityConfigInto(out, ConfigUsers, u+"/"+ConfigClients+"/"+cl); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (c *Client) readEntityConfigInto(out map[string]map[string]string, entityType, entity string) error {
	data, _, err := c.Get(ConfigEntityPath(entityType, entity))
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := DecodeConfig(data)
	if err != nil {
		return err
	}
	out[entity] = cfg
	return nil
}
