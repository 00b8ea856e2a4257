#ifndef CONFIG_H
#define CONFIG_H
#define STATS_NAME "stats"
#endif
