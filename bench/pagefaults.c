/* How much do page faults cost when filling fresh memory, with and without transparent huge pages?
   Writes 14 MB (MobileNetV2 weights) into a new mapping four ways, best of 5 each (docs/BENCHMARKS.md, "Load time").
     gcc -O2 bench/pagefaults.c -o /tmp/pf && /tmp/pf   (MADV_POPULATE_WRITE = 23 needs Linux 5.14) */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <stdint.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(){ size_t n=14u<<20, al=2u<<20;
 for(int mode=0;mode<4;mode++){ double best=1e9; for(int r=0;r<5;r++){
  double t0=now(); char *p=mmap(0,n+al,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  char *q=(char*)(((uintptr_t)p+al-1)&~(uintptr_t)(al-1));
  if(mode==1||mode==3) madvise(q,n,MADV_HUGEPAGE);
  if(mode>=2) madvise(q,n,23);
  memset(q,1,n); double t=now()-t0; if(t<best)best=t; munmap(p,n+al);}
  printf("mode %d (%s) best %.2f ms\n",mode,(const char*[]){"4K faults","hugepage","populate","hugepage+populate"}[mode],best);}
}
