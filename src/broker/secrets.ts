/** The user name of the engine's own MQTT clients on the embedded broker, unless mqtt.username is set. */
export const ENGINE_USERNAME = 'guardian-engine';
