# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Embeds OpenCL sources into C++ where OpenCV's own cl2cpp.cmake is not at hand (the standalone build):
# for each file NAME.cl, a cv::ocl::ProgramSource cv::ocl::explain::NAME_oclsrc (the naming of OpenCV's
# modules), declared in OUTPUT_HPP and defined in OUTPUT_CPP.
# Run as: cmake -DCL_DIR=<folder of the .cl files> -DOUTPUT_CPP=... -DOUTPUT_HPP=... -P embed_opencl.cmake
file(GLOB CL_FILES ${CL_DIR}/*.cl)
list(SORT CL_FILES)
if(NOT CL_FILES)
  message(FATAL_ERROR "embed_opencl.cmake: no .cl file in ${CL_DIR}")
endif()
set(hpp "// Generated from src/opencl/*.cl by cmake/embed_opencl.cmake; do not edit.\n#pragma once\n#include <opencv2/core/ocl.hpp>\nnamespace cv { namespace ocl { namespace explain {\n")
set(cpp "// Generated from src/opencl/*.cl by cmake/embed_opencl.cmake; do not edit.\n#include \"opencl_kernels_explain.hpp\"\nnamespace cv { namespace ocl { namespace explain {\n")
foreach(cl ${CL_FILES})
  get_filename_component(name ${cl} NAME_WE)
  file(READ ${cl} source)
  string(MD5 hash "${source}")
  string(APPEND hpp "extern const cv::ocl::ProgramSource ${name}_oclsrc;\n")
  string(APPEND cpp "const cv::ocl::ProgramSource ${name}_oclsrc(\"explain\", \"${name}\", R\"EXPLAINCL(${source})EXPLAINCL\", \"${hash}\");\n")
endforeach()
string(APPEND hpp "}}}\n")
string(APPEND cpp "}}}\n")
file(WRITE ${OUTPUT_HPP} "${hpp}")
file(WRITE ${OUTPUT_CPP} "${cpp}")
