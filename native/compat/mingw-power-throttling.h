/*
 * Debian 12's MinGW-w64 headers declare SetThreadInformation and ThreadPowerThrottling but not the
 * THREAD_POWER_THROTTLING_STATE structure that ggml-cpu.c fills to keep Windows 11 from parking its threads' cores.
 * Force-included into that one file of the Windows cross build (native/CMakeLists.txt); the values are Windows SDK's.
 */
#pragma once
#include <windows.h>
#ifndef THREAD_POWER_THROTTLING_CURRENT_VERSION
typedef struct _THREAD_POWER_THROTTLING_STATE {
    ULONG Version;
    ULONG ControlMask;
    ULONG StateMask;
} THREAD_POWER_THROTTLING_STATE;
#define THREAD_POWER_THROTTLING_CURRENT_VERSION 1
#define THREAD_POWER_THROTTLING_EXECUTION_SPEED 0x1
#endif
