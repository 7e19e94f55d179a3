/* An empty translation unit: the CPU variants a build leaves out (see native/CMakeLists.txt) are built from it. */
typedef int llamajava_empty_translation_unit;
