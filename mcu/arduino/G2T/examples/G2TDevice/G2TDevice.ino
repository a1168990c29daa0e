/*
 * G2TDevice - the board as a g2t training device on its USB serial line.
 * On the host, between the coordinator's fetch and pack:
 *
 *   g2t-fetch -s dev.key URL | g2t-serial /dev/ttyACM0 | g2t-pack -s dev.key --send URL
 *
 * An Uno trains tasks of up to 16 features (the letters), rows as bytes,
 * asgd; its 2 KB hold 320 bytes of rows, the host sends them again each pass.
 */
#include <G2T.h>

void setup()
{
	Serial.begin(115200);
	G2T.run(Serial);
}

void loop() {}
