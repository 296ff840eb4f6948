/* Typed C++ access to latestframesink for embedding applications (placeholder). */
#pragma once
