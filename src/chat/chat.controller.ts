import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Patch,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import type { Response } from 'express';
import { CurrentUser } from '../auth/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ok, type ApiResponse } from '../common/http-response.js';
import type { ChatList, MemberRemovedPayload, ReadReceipt } from './chat.events.js';
import { ChatService } from './chat.service.js';
import type { Chat, ChatMessage, MessagePage } from './chat.types.js';
import {
  AddMemberDto,
  ChatIdParamDto,
  ChatMemberParamDto,
  ChatMessageParamDto,
  CreateChatDto,
  ListMessagesQueryDto,
} from './dto/chat.dto.js';
import { EditContentDto, MarkReadDto, PostMessageDto } from './dto/message.dto.js';

/** `/api/chats` (docs/protocol.md, Chat): writes broadcast on `/chat` exactly as socket writes do. */
@Controller('api/chats')
export class ChatController {
  constructor(private readonly chat: ChatService) {}

  @Post()
  async create(@Body() body: CreateChatDto, @CurrentUser() caller: Principal): Promise<ApiResponse<Chat>> {
    return ok('Chat created', await this.chat.createChat(caller, body));
  }

  @Get()
  async list(@CurrentUser() caller: Principal): Promise<ApiResponse<ChatList>> {
    return ok('Your chats', { chats: await this.chat.listChats(caller) });
  }

  @Get(':id')
  async get(@Param() params: ChatIdParamDto, @CurrentUser() caller: Principal): Promise<ApiResponse<Chat>> {
    return ok('Chat', await this.chat.getChat(caller, params.id));
  }

  @Post(':id/members')
  @HttpCode(HttpStatus.OK)
  async addMember(
    @Param() params: ChatIdParamDto,
    @Body() body: AddMemberDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<Chat>> {
    const { chat, added } = await this.chat.addMember(caller, params.id, body.userId);
    return ok(added ? 'Member added' : 'Already a member', chat);
  }

  @Delete(':id/members/:userId')
  async removeMember(
    @Param() params: ChatMemberParamDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<MemberRemovedPayload>> {
    return ok('Member removed', await this.chat.removeMember(caller, params.id, params.userId));
  }

  @Get(':id/messages')
  async messages(
    @Param() params: ChatIdParamDto,
    @Query() query: ListMessagesQueryDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<MessagePage>> {
    return ok('Messages', await this.chat.listMessages(caller, params.id, query));
  }

  /** 201 when stored, 200 when a retry with the same `clientId` found it stored already. */
  @Post(':id/messages')
  async post(
    @Param() params: ChatIdParamDto,
    @Body() body: PostMessageDto,
    @CurrentUser() caller: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ApiResponse<ChatMessage>> {
    const { message, created } = await this.chat.sendMessage(caller, { chatId: params.id, ...body });
    if (!created) response.status(HttpStatus.OK);
    return ok(created ? 'Message sent' : 'Message already stored', message);
  }

  @Patch(':id/messages/:messageId')
  async edit(
    @Param() params: ChatMessageParamDto,
    @Body() body: EditContentDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<ChatMessage>> {
    const message = await this.chat.editMessage(caller, { messageId: params.messageId, ...body }, params.id);
    return ok('Message edited', message);
  }

  @Delete(':id/messages/:messageId')
  async delete(
    @Param() params: ChatMessageParamDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<ChatMessage>> {
    return ok(
      'Message deleted',
      await this.chat.deleteMessage(caller, { messageId: params.messageId }, params.id),
    );
  }

  @Post(':id/read')
  @HttpCode(HttpStatus.OK)
  async read(
    @Param() params: ChatIdParamDto,
    @Body() body: MarkReadDto,
    @CurrentUser() caller: Principal,
  ): Promise<ApiResponse<ReadReceipt>> {
    return ok('Read position saved', await this.chat.markRead(caller, { chatId: params.id, ...body }));
  }
}
