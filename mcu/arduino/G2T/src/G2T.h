/*
 * G2T.h - the g2t device library for Arduino: the board trains the tasks
 * a host sends over a serial line (g2t-serial(1), protocol in g2t-mcu(7)).
 *
 *     void setup() { Serial.begin(115200); G2T.run(Serial); }
 *
 * run() never returns: the board is the host's device from then on, and a
 * host that starts again (HI) starts a new session.
 */
#ifndef G2T_H
#define G2T_H

#include <Arduino.h>

class G2TDevice {
public:
	void run(Stream &line) __attribute__((noreturn));
};

extern G2TDevice G2T;

#endif
