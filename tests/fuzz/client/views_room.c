/* views_room.c - client/cmd_room.c with its printer exported (views.h). */
#include "cmd_room.c"
#include "views.h"

void view_room(json_t *room)
{
	room_print(room, "Room");
}
